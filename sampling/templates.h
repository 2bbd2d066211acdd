/*
 * templates.h - the online log template miner (Drain-style).
 *
 * A miner turns log lines into templates: "Received block <*> of size <*>".
 * Each line is masked (one combined PCRE2 JIT pass replaces numbers, IPs,
 * UUIDs, paths, ... with <*>), split into tokens, routed through a fixed-depth
 * prefix tree (token count, then the leading tokens) to a leaf, and matched
 * against the leaf's templates by token similarity. A match at or above the
 * threshold merges the line in (tokens that differ become <*>); otherwise the
 * line founds a new template.
 *
 * Identity: a template's id is assigned when its cluster is created (1, 2, ...
 * per miner, never reused, not even after eviction) and kept while the
 * template generalises. sampling_miner_save() / sampling_miner_load() carry
 * the templates, their ids and counts across restarts, so the same line maps
 * to the same id afterwards.
 *
 * Bounds: at most max_templates templates (the least recently matched one is
 * evicted), lines longer than max_line_len bytes are cut there, and tokens
 * past max_tokens are folded into the last one. Per-line work reuses the
 * miner's scratch buffers: adding a line that matches an existing template
 * does not allocate.
 *
 * Words: tokens that hold no masked variable are taken for constants. A line
 * joins a template only when few of its words differ from the template's (see
 * word_diff_per and var_keys): templates differ from each other mostly in
 * words, values mostly in what the masks catch.
 *
 * Threads: a miner is used by one thread at a time (one miner per tenant, on
 * the log-parser thread). Miners share nothing; each compiles its own masks.
 */
#ifndef SONDE_SAMPLING_TEMPLATES_H
#define SONDE_SAMPLING_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* The text a masked variable becomes, in templates and in the tree. */
#define SAMPLING_WILDCARD "<*>"

/* One variable class: a PCRE2 pattern whose matches become <*>. */
typedef struct sampling_mask {
    const char *name;    /* for messages only ("ipv4", "uuid", ...) */
    const char *pattern; /* PCRE2 syntax, UTF-8 off; must not match the empty string */
} sampling_mask;

typedef struct sampling_miner_config {
    /* Masks applied before tree lookup, in priority order (an earlier mask wins
     * where two match at the same position). NULL: the default set (see
     * sampling_default_masks). n_masks == 0 with masks != NULL: no masking. */
    const sampling_mask *masks;
    size_t n_masks;
    double sim_threshold;   /* 0..1: share of equal tokens needed to join a template */
    uint32_t depth;         /* leading tokens used as tree keys (after the length level) */
    uint32_t max_children;  /* children per tree node before new keys fall into <*> */
    uint32_t max_templates; /* per miner; the least recently used is evicted */
    uint32_t max_line_len;  /* bytes; longer lines are cut */
    uint32_t max_tokens;    /* tokens past this are folded into the last one */
    /* Words (tokens holding no masked variable) are taken for constants: a
     * line joins a template only when at most ntok / word_diff_per of its words
     * differ from the template's constant words (0: none may). A word right
     * after one of var_keys ("user root", "for admin") does not count.
     * var_keys NULL: the default {"user", "for"}; n_var_keys 0 with a non-NULL
     * var_keys: none. Strings are copied. */
    uint32_t word_diff_per;
    const char *const *var_keys;
    size_t n_var_keys;
    /* A leaf (templates of one length and prefix) holding crowded_leaf or
     * more templates lets one more word differ: many variants of one shape
     * mean a word there is a value (0: never). A leaf never holds more than
     * max_leaf_templates: its least recently used one is evicted, which
     * bounds the comparisons per line. */
    uint32_t crowded_leaf;
    uint32_t max_leaf_templates;
} sampling_miner_config;

/* The default configuration (default masks, threshold, depth and bounds). */
void sampling_miner_config_default(sampling_miner_config *cfg);

/* The default mask set, in priority order; *n receives its length. Static. */
const sampling_mask *sampling_default_masks(size_t *n);

typedef struct sampling_miner sampling_miner;

/* Compiles the masks (PCRE2 with JIT where available) and creates an empty
 * miner. cfg NULL means the defaults. Errors: SONDE_ERR_INVALID when a mask
 * does not compile or a bound is 0 (err names the mask when errbuf is given),
 * SONDE_ERR_NOMEM. */
sonde_status sampling_miner_create(const sampling_miner_config *cfg, sampling_miner **out,
                                   char *errbuf, size_t errbuf_len);
void sampling_miner_destroy(sampling_miner *m); /* NULL is a no-op */

/* What adding one line produced. template_text points into the miner and is
 * valid until the next call that changes the miner (add, put, load, destroy). */
typedef struct sampling_add_result {
    uint64_t template_id;
    const char *template_text; /* NUL-terminated; variables print as <*> */
    size_t template_len;
    uint64_t count;   /* lines counted for this template, this one included */
    bool created;     /* a new template was made for this line */
    bool changed;     /* an existing template generalised (a token became <*>) */
    uint32_t evicted; /* templates evicted to make room (0, 1 or 2: miner, leaf) */
} sampling_add_result;

/* Adds one line (no trailing newline needed; trailing \r and \n are ignored).
 * Errors: SONDE_ERR_NOMEM: the line is not counted (a template may have been
 * evicted to make room). */
sonde_status sampling_miner_add(sampling_miner *m, const char *line, size_t len,
                                sampling_add_result *res);

/* Puts a template with a given id and text (as the miner prints it: tokens
 * separated by blanks, variables as <*>) into the miner, as a restart does
 * from persisted templates. An existing template with that id is replaced (it
 * generalised: the new text), else one is created, evicting the least
 * recently used when full (the miner's, or the leaf's). The next id the miner
 * hands out becomes at least id + 1. count starts at the given value; the
 * template becomes the most recently used. The text is copied; leading and
 * trailing blanks are dropped.
 *
 * Routing: the template goes where the lines that made it are routed: the
 * level of its token count (tokens past max_tokens fold into the last, as a
 * line's do), then one level per leading token: a token holding a variable
 * ("<*>", "blk_<*>") to the <*> child, a word to its own child while the node
 * has room for one. So putting every template of one miner, in id order
 * (sampling_miner_foreach), into a fresh miner with the same configuration
 * makes the same lines map to the same ids the first miner would give them
 * now (all lines of the LogHub-2k sets). That is not always the id a line got
 * when first added: a line that joined a template early may match a later
 * one better, with or without a restart. Runs of <*> in the text are kept
 * token for token (they come from merges; a line's own runs were collapsed
 * before tokenising).
 *
 * Limits: the blank-line template (text "") cannot be put, and a word that
 * went to a full node's <*> child in the first miner may get its own child
 * here. Call from the miner's thread, between adds. Errors:
 * SONDE_ERR_INVALID for id 0 or UINT64_MAX, an empty or blank text or one
 * longer than 3 * max_line_len (no masked line is); SONDE_ERR_NOMEM (the
 * miner is unchanged, save a template evicted to make room). */
sonde_status sampling_miner_put(sampling_miner *m, uint64_t id, const char *text, size_t len,
                                uint64_t count);

/* Template by id: text and count through the out-parameters (either may be
 * NULL). SONDE_ERR_NOT_FOUND when the id is unknown or was evicted. */
sonde_status sampling_miner_lookup(const sampling_miner *m, uint64_t id, const char **text,
                                   uint64_t *count);

/* A template as iteration sees it; text is valid until the miner changes. */
typedef struct sampling_template_info {
    uint64_t id;
    uint64_t count;
    const char *text;
    size_t text_len;
} sampling_template_info;

/* Calls fn for every live template in id order; fn returns false to stop.
 * SONDE_ERR_NOMEM when the id-ordered list cannot be built (fn not called). */
sonde_status sampling_miner_foreach(const sampling_miner *m,
                                    bool (*fn)(const sampling_template_info *t, void *arg),
                                    void *arg);

size_t sampling_miner_template_count(const sampling_miner *m);

/* Serialises the miner state (templates, ids, counts, next id, LRU order) to
 * a malloc'd buffer the caller frees. The configuration is not included: the
 * loading miner's own configuration applies. Errors: SONDE_ERR_NOMEM. */
sonde_status sampling_miner_save(const sampling_miner *m, uint8_t **out, size_t *out_len);

/* Replaces the miner's state with a saved one. The bytes are checked fully
 * before anything changes: SONDE_ERR_INVALID on a bad or truncated image (the
 * miner keeps its previous state), SONDE_ERR_NOMEM. Templates beyond this
 * miner's max_templates are dropped, least recently used first. */
sonde_status sampling_miner_load(sampling_miner *m, const uint8_t *data, size_t len);

#endif
