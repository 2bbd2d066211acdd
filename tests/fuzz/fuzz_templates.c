/*
 * fuzz_templates.c - libFuzzer target for the template miner
 * (sampling/templates.h).
 *
 * The input is split into lines and fed to two miners: the default one, and
 * a small one (8 templates, 12 tokens, 200-byte lines) so that eviction and
 * the caps run constantly. The small miner's state is then saved, loaded into
 * a fresh miner, and every line must map to the same template id there. The
 * raw input is also offered to sampling_miner_load() as an image, which must
 * refuse it or accept it without harm. Last, each line must get the same
 * template from the default masks (scanned with a prefilter) as from the same
 * masks passed explicitly (scanned at every byte).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/templates.h"

static void feed(sampling_miner *m, const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos <= size) {
        const uint8_t *nl = pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
        size_t end = nl ? (size_t)(nl - data) : size;
        sampling_add_result r;
        if (sampling_miner_add(m, (const char *)data + pos, end - pos, &r) == SONDE_OK) {
            const char *t = NULL;
            if (sampling_miner_lookup(m, r.template_id, &t, NULL) != SONDE_OK ||
                t != r.template_text)
                abort();
        }
        pos = end + 1;
    }
}

static bool count_cb(const sampling_template_info *t, void *arg)
{
    (void)t;
    (*(size_t *)arg)++;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sampling_miner *big = NULL, *small = NULL, *again = NULL;
    sampling_miner_config cfg;
    sampling_miner_config_default(&cfg);
    cfg.max_templates = 8;
    cfg.max_tokens = 12;
    cfg.max_line_len = 200;
    if (sampling_miner_create(NULL, &big, NULL, 0) != SONDE_OK ||
        sampling_miner_create(&cfg, &small, NULL, 0) != SONDE_OK ||
        sampling_miner_create(&cfg, &again, NULL, 0) != SONDE_OK)
        abort();
    feed(big, data, size);
    feed(small, data, size);
    if (sampling_miner_template_count(small) > 8)
        abort();
    size_t n = 0;
    if (sampling_miner_foreach(small, count_cb, &n) != SONDE_OK ||
        n != sampling_miner_template_count(small))
        abort();

    uint8_t *img = NULL;
    size_t len = 0;
    if (sampling_miner_save(small, &img, &len) == SONDE_OK) {
        if (sampling_miner_load(again, img, len) != SONDE_OK)
            abort();
        /* the restored miner agrees with the original line by line */
        size_t pos = 0;
        while (pos <= size) {
            const uint8_t *nl = pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
            size_t end = nl ? (size_t)(nl - data) : size;
            sampling_add_result a, b;
            if (sampling_miner_add(small, (const char *)data + pos, end - pos, &a) == SONDE_OK &&
                sampling_miner_add(again, (const char *)data + pos, end - pos, &b) == SONDE_OK &&
                (a.template_id != b.template_id || a.count != b.count ||
                 strcmp(a.template_text, b.template_text) != 0))
                abort();
            pos = end + 1;
        }
        free(img);
    }
    /* arbitrary bytes as an image */
    if (sampling_miner_load(again, data, size) == SONDE_OK)
        feed(again, data, size);

    sampling_miner *plain = NULL;
    sampling_miner_config pc;
    sampling_miner_config_default(&pc);
    pc.masks = sampling_default_masks(&pc.n_masks);
    sampling_miner_destroy(small);
    small = NULL;
    if (sampling_miner_create(NULL, &small, NULL, 0) != SONDE_OK ||
        sampling_miner_create(&pc, &plain, NULL, 0) != SONDE_OK)
        abort();
    size_t pos = 0;
    while (pos <= size) {
        const uint8_t *nl = pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
        size_t end = nl ? (size_t)(nl - data) : size;
        sampling_add_result a, b;
        if (sampling_miner_add(small, (const char *)data + pos, end - pos, &a) == SONDE_OK &&
            sampling_miner_add(plain, (const char *)data + pos, end - pos, &b) == SONDE_OK &&
            strcmp(a.template_text, b.template_text) != 0)
            abort();
        pos = end + 1;
    }
    sampling_miner_destroy(plain);
    sampling_miner_destroy(big);
    sampling_miner_destroy(small);
    sampling_miner_destroy(again);
    return 0;
}
