/*
 * templates.c - the online template miner: tree, clusters, LRU, save/load.
 *
 * Design (after Drain, He et al. ICWS 2017, written anew):
 *   line -> cut to max_line_len -> mask (templates_mask.c) -> split on blanks
 *   (tokens past max_tokens fold into the last; a run of equal variable tokens
 *   is one token) -> tree: level 1 is the token count, then `depth` levels
 *   keyed by the leading tokens (a token holding a masked variable goes to
 *   the <*> child, as does any new key once a node has max_children) ->
 *   leaf: the templates with that prefix -> the most similar template joins
 *   the line when the similarity reaches the threshold and the line's words
 *   agree with the template's (see similarity()), else the line founds a new
 *   template in the leaf.
 *
 * Invariants:
 *   - a cluster's id never changes; ids are handed out from next_id and never
 *     reused; every live cluster is in the id map, in exactly one leaf and in
 *     the LRU list;
 *   - a template token only ever turns from a constant into <*>, so a cluster
 *     under a key child keeps that key as its token at that level;
 *   - tree nodes with neither templates nor children are pruned, so the tree
 *     is bounded by the templates (max_templates * depth nodes at most).
 *
 * Memory: the miner owns everything. Per line it uses its scratch buffers
 * (masked text, token array), sized once at create from max_line_len and
 * max_tokens. A new or generalised template allocates its own block.
 *
 * Threads: one thread per miner (see templates.h).
 */
#include "sampling/templates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "sampling/templates_internal.h"

#define WILD_LEN 3

typedef struct ttok {
    uint64_t h;
    uint32_t off; /* into the cluster's text */
    uint32_t len : 31;
    uint32_t wild : 1; /* the token is <*> */
    uint8_t after_key; /* the token before it is one of the var_keys */
    uint8_t var;       /* holds a masked variable */
} ttok;

typedef struct node node;

typedef struct cluster {
    uint64_t id;
    uint64_t count;
    char *text; /* rendered template, NUL-terminated */
    uint32_t text_len;
    uint32_t ntok;
    uint32_t nwild;
    uint32_t path_wild; /* bit i: level i of the tree went to the <*> child */
    uint64_t last_used; /* miner tick of its last line: picks a leaf's victim */
    ttok *toks;
    node *leaf;
    uint32_t leaf_idx;
    struct cluster *lru_prev, *lru_next; /* head = most recently used */
} cluster;

typedef struct kid {
    uint64_t h;
    char *key;
    uint32_t len;
    node *child;
} kid;

struct node {
    node *parent;
    int32_t parent_slot; /* index in parent's kids, -1: parent's wild, -2: a root slot */
    uint32_t nkids, kids_cap;
    kid *kids;
    node *wild;
    uint32_t ncl, cl_cap;
    cluster **cl;
};

typedef struct idmap {
    cluster **slots; /* open addressing, linear probing, backward-shift delete */
    size_t cap;      /* power of two */
    size_t n;
} idmap;

typedef struct state {
    node **roots; /* by token count, 0..max_tokens */
    idmap ids;
    cluster *lru_head, *lru_tail;
    size_t n;
    uint64_t next_id;
    uint64_t tick; /* lines added */
} state;

typedef struct ltok {
    const char *p;
    uint32_t len;
    uint32_t sep; /* blanks right before p */
    uint64_t h;
    uint8_t wild; /* exactly <*> */
    uint8_t var;  /* holds a masked variable (a "<") */
} ltok;

struct sampling_miner {
    sampling_miner_config cfg;
    sampling_masker masker;
    state st;
    char *masked; /* 3 * max_line_len + 1 */
    ltok *toks;   /* max_tokens */
    struct {
        char *p;
        uint32_t len;
        uint64_t h;
    } * keys; /* var_keys, copied */
    uint32_t n_keys;
};

/* ---- small helpers -------------------------------------------------------- */

/* Token hash: 8 bytes a step (tokens are short; this runs on every token). */
static inline uint64_t tok_hash(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    /* the tail as a little-endian word, in fixed-size loads: a memcpy of a
     * variable length is a call and a store-forwarding stall */
    uint64_t w = 0;
    unsigned sh = 0;
    if (n & 4) {
        uint32_t x;
        memcpy(&x, p, 4);
        w = x;
        p += 4;
        sh = 32;
    }
    if (n & 2) {
        uint16_t x;
        memcpy(&x, p, 2);
        w |= (uint64_t)x << sh;
        p += 2;
        sh += 16;
    }
    if (n & 1)
        w |= (uint64_t)(unsigned char)*p << sh;
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static inline int is_blank(unsigned char c)
{
    return c == ' ' || (unsigned)(c - '\t') <= (unsigned)('\r' - '\t'); /* \t \n \v \f \r */
}

static inline int ttok_is_wild(const cluster *c, uint32_t i)
{
    return c->toks[i].wild;
}

static inline int tok_eq(const cluster *c, const ttok *x, const ltok *t)
{
    return x->h == t->h && x->len == t->len && memcmp(c->text + x->off, t->p, t->len) == 0;
}

void sampling_miner_config_default(sampling_miner_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->masks = NULL;
    cfg->n_masks = 0;
    cfg->sim_threshold = 0.5;
    cfg->depth = 2;
    cfg->max_children = 100;
    cfg->max_templates = 10000;
    cfg->max_line_len = 16384;
    cfg->max_tokens = 128;
    cfg->word_diff_per = 10;
    cfg->crowded_leaf = 16;
    cfg->max_leaf_templates = 256;
    cfg->var_keys = NULL;
    cfg->n_var_keys = 0;
}

static const char *const default_var_keys[] = {"user", "for"};

/* ---- id map --------------------------------------------------------------- */

static inline size_t id_slot(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 7) & (cap - 1);
}

static int idmap_grow(idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    cluster **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        cluster *c = m->slots[i];
        if (!c)
            continue;
        size_t j = id_slot(c->id, ncap);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = c;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

/* Room for one more entry, so that idmap_put cannot fail. */
static int idmap_reserve(idmap *m)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        return idmap_grow(m);
    return 0;
}

static void idmap_put(idmap *m, cluster *c)
{
    size_t j = id_slot(c->id, m->cap);
    while (m->slots[j])
        j = (j + 1) & (m->cap - 1);
    m->slots[j] = c;
    m->n++;
}

static cluster *idmap_get(const idmap *m, uint64_t id)
{
    if (!m->cap)
        return NULL;
    size_t j = id_slot(id, m->cap);
    while (m->slots[j]) {
        if (m->slots[j]->id == id)
            return m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static void idmap_del(idmap *m, uint64_t id)
{
    size_t mask = m->cap - 1, j = id_slot(id, m->cap);
    while (m->slots[j] && m->slots[j]->id != id)
        j = (j + 1) & mask;
    if (!m->slots[j])
        return;
    m->slots[j] = NULL;
    m->n--;
    /* backward shift: re-home the entries of the run after j */
    for (size_t k = (j + 1) & mask; m->slots[k]; k = (k + 1) & mask) {
        size_t home = id_slot(m->slots[k]->id, m->cap);
        /* does home lie cyclically in (j, k]? then it stays */
        int stays = (j < k) ? (home > j && home <= k) : (home > j || home <= k);
        if (!stays) {
            m->slots[j] = m->slots[k];
            m->slots[k] = NULL;
            j = k;
        }
    }
}

/* ---- LRU -------------------------------------------------------------------- */

static void lru_unlink(state *s, cluster *c)
{
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else
        s->lru_head = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else
        s->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
}

static void lru_push_front(state *s, cluster *c)
{
    c->lru_prev = NULL;
    c->lru_next = s->lru_head;
    if (s->lru_head)
        s->lru_head->lru_prev = c;
    else
        s->lru_tail = c;
    s->lru_head = c;
}

/* ---- tree ------------------------------------------------------------------- */

static void node_free(node *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i].child);
        free(n->kids[i].key);
    }
    node_free(n->wild);
    free(n->kids);
    free(n->cl);
    free(n);
}

static node *node_new(node *parent, int32_t slot)
{
    node *n = calloc(1, sizeof *n);
    if (n) {
        n->parent = parent;
        n->parent_slot = slot;
    }
    return n;
}

static node *node_find_kid(const node *n, const char *p, uint32_t len, uint64_t h)
{
    for (uint32_t i = 0; i < n->nkids; i++) {
        const kid *k = &n->kids[i];
        if (k->h == h && k->len == len && memcmp(k->key, p, len) == 0)
            return k->child;
    }
    return NULL;
}

/* Child for a key, created when missing. force_key: take a key child even
 * when the node is full (load restores saved paths). *went_wild reports which. */
static node *node_descend_create(node *n, const char *p, uint32_t len, uint64_t h, int use_wild,
                                 uint32_t max_children, int force_key, int *went_wild)
{
    if (!use_wild) {
        node *c = node_find_kid(n, p, len, h);
        if (c) {
            *went_wild = 0;
            return c;
        }
        if (n->nkids < max_children || force_key) {
            if (n->nkids == n->kids_cap) {
                uint32_t ncap = n->kids_cap ? n->kids_cap * 2 : 4;
                kid *nk = realloc(n->kids, ncap * sizeof *nk);
                if (!nk)
                    return NULL;
                n->kids = nk;
                n->kids_cap = ncap;
            }
            char *key = malloc(len + 1);
            if (!key)
                return NULL;
            memcpy(key, p, len);
            key[len] = 0;
            node *child = node_new(n, (int32_t)n->nkids);
            if (!child) {
                free(key);
                return NULL;
            }
            kid *k = &n->kids[n->nkids++];
            k->h = h;
            k->key = key; /* owned by the node from here */
            k->len = len;
            k->child = child;
            *went_wild = 0;
            return child;
        }
    }
    if (!n->wild) {
        n->wild = node_new(n, -1);
        if (!n->wild)
            return NULL;
    }
    *went_wild = 1;
    return n->wild;
}

/* Removes empty nodes from n upwards (roots stay: they are slots). */
static void node_prune(node *n)
{
    while (n && n->parent && n->ncl == 0 && n->nkids == 0 && !n->wild) {
        node *p = n->parent;
        if (n->parent_slot < 0) {
            p->wild = NULL;
        } else {
            uint32_t i = (uint32_t)n->parent_slot;
            free(p->kids[i].key);
            p->kids[i] = p->kids[--p->nkids];
            if (i < p->nkids)
                p->kids[i].child->parent_slot = (int32_t)i;
        }
        free(n->kids);
        free(n->cl);
        free(n);
        n = p;
    }
}

static int leaf_add(node *leaf, cluster *c)
{
    if (leaf->ncl == leaf->cl_cap) {
        uint32_t ncap = leaf->cl_cap ? leaf->cl_cap * 2 : 2;
        cluster **ncl = realloc(leaf->cl, ncap * sizeof *ncl);
        if (!ncl)
            return -1;
        leaf->cl = ncl;
        leaf->cl_cap = ncap;
    }
    c->leaf = leaf;
    c->leaf_idx = leaf->ncl;
    leaf->cl[leaf->ncl++] = c;
    return 0;
}

static void leaf_remove(cluster *c)
{
    node *leaf = c->leaf;
    uint32_t i = c->leaf_idx;
    leaf->cl[i] = leaf->cl[--leaf->ncl];
    if (i < leaf->ncl)
        leaf->cl[i]->leaf_idx = i;
    c->leaf = NULL;
}

/* ---- state ------------------------------------------------------------------ */

static void cluster_free(cluster *c)
{
    if (c) {
        free(c->text);
        free(c->toks);
        free(c);
    }
}

static int state_init(state *s, uint32_t max_tokens)
{
    memset(s, 0, sizeof *s);
    s->next_id = 1;
    s->roots = calloc((size_t)max_tokens + 1, sizeof *s->roots);
    return s->roots ? 0 : -1;
}

static void state_fini(state *s, uint32_t max_tokens)
{
    for (cluster *c = s->lru_head, *nx; c; c = nx) {
        nx = c->lru_next;
        cluster_free(c);
    }
    if (s->roots)
        for (uint32_t i = 0; i <= max_tokens; i++)
            node_free(s->roots[i]);
    free(s->roots);
    free(s->ids.slots);
    memset(s, 0, sizeof *s);
}

/* keep: a node about to receive a template, not to be pruned */
static void state_evict(state *s, cluster *c, node *keep)
{
    lru_unlink(s, c);
    idmap_del(&s->ids, c->id);
    node *leaf = c->leaf;
    leaf_remove(c);
    if (leaf != keep)
        node_prune(leaf);
    cluster_free(c);
    s->n--;
}

/* ---- create / destroy ---------------------------------------------------- */

sonde_status sampling_miner_create(const sampling_miner_config *cfg, sampling_miner **out,
                                   char *errbuf, size_t errbuf_len)
{
    sampling_miner_config def;
    if (!cfg) {
        sampling_miner_config_default(&def);
        cfg = &def;
    }
    *out = NULL;
    if (cfg->max_templates == 0 || cfg->max_line_len == 0 || cfg->max_tokens == 0 ||
        cfg->max_leaf_templates == 0 || cfg->max_children == 0 || cfg->depth > 31 ||
        cfg->max_line_len > (1u << 28) || cfg->max_tokens > (1u << 20) ||
        !(cfg->sim_threshold >= 0 && cfg->sim_threshold <= 1)) {
        if (errbuf && errbuf_len)
            snprintf(errbuf, errbuf_len, "miner config: a bound is 0, too large or out of range");
        return SONDE_ERR_INVALID;
    }
    sampling_miner *m = calloc(1, sizeof *m);
    if (!m)
        return SONDE_ERR_NOMEM;
    m->cfg = *cfg;
    const sampling_mask *masks = cfg->masks; /* NULL: the defaults */
    size_t n_masks = cfg->n_masks;
    m->cfg.masks = NULL; /* not kept: the caller's arrays may go away */
    const char *const *keys = cfg->var_keys;
    size_t n_keys = cfg->n_var_keys;
    if (!keys) {
        keys = default_var_keys;
        n_keys = sizeof default_var_keys / sizeof default_var_keys[0];
    }
    m->cfg.var_keys = NULL;
    m->cfg.n_var_keys = 0;
    if (n_keys > 1024) {
        free(m);
        return SONDE_ERR_INVALID;
    }
    m->keys = calloc(n_keys ? n_keys : 1, sizeof *m->keys);
    if (!m->keys) {
        free(m);
        return SONDE_ERR_NOMEM;
    }
    for (size_t i = 0; i < n_keys; i++) {
        size_t kl = keys[i] ? strlen(keys[i]) : 0;
        m->keys[i].p = kl ? malloc(kl) : NULL;
        if (kl && !m->keys[i].p) {
            m->n_keys = (uint32_t)i;
            sampling_miner_destroy(m);
            return SONDE_ERR_NOMEM;
        }
        if (kl)
            memcpy(m->keys[i].p, keys[i], kl);
        m->keys[i].len = (uint32_t)kl;
        m->keys[i].h = tok_hash(keys[i] ? keys[i] : "", kl);
    }
    m->n_keys = (uint32_t)n_keys;
    sonde_status st = sampling_masker_init(&m->masker, masks, n_masks, errbuf, errbuf_len);
    if (st != SONDE_OK) {
        sampling_miner_destroy(m);
        return st;
    }
    m->masked = malloc((size_t)cfg->max_line_len * 3 + 1);
    m->toks = malloc((size_t)cfg->max_tokens * sizeof *m->toks);
    if (!m->masked || !m->toks || state_init(&m->st, cfg->max_tokens) != 0) {
        sampling_miner_destroy(m);
        return SONDE_ERR_NOMEM;
    }
    *out = m;
    return SONDE_OK;
}

void sampling_miner_destroy(sampling_miner *m)
{
    if (!m)
        return;
    state_fini(&m->st, m->cfg.max_tokens);
    sampling_masker_fini(&m->masker);
    for (uint32_t i = 0; i < m->n_keys; i++)
        free(m->keys[i].p);
    free(m->keys);
    free(m->masked);
    free(m->toks);
    free(m);
}

/* ---- the line path ---------------------------------------------------------- */

/* Splits the masked line into m->toks; returns the token count. */
static uint32_t tokenize(sampling_miner *m, const char *s, size_t len)
{
    uint32_t n = 0, max = m->cfg.max_tokens;
    size_t i = 0;
    while (i < len) {
        size_t sep_b = i;
        while (i < len && is_blank((unsigned char)s[i]))
            i++;
        if (i >= len)
            break;
        size_t b = i;
        int var = 0;
        if (n + 1 == max) {
            /* the last slot takes the rest of the line, blanks included */
            size_t e = len;
            while (e > b && is_blank((unsigned char)s[e - 1]))
                e--;
            var = memchr(s + b, '<', e - b) != NULL;
            i = e;
        } else {
            while (i < len && !is_blank((unsigned char)s[i])) {
                var |= s[i] == '<';
                i++;
            }
        }
        uint32_t tl = (uint32_t)(i - b);
        uint64_t h = tok_hash(s + b, tl);
        if (var && n && m->toks[n - 1].var && m->toks[n - 1].h == h && m->toks[n - 1].len == tl &&
            memcmp(m->toks[n - 1].p, s + b, tl) == 0)
            continue; /* a list of like variables ("blk_<*> blk_<*>") is one variable */
        ltok *t = &m->toks[n++];
        t->p = s + b;
        t->len = tl;
        t->sep = (uint32_t)(b - sep_b);
        t->h = h;
        t->wild = tl == WILD_LEN && memcmp(t->p, SAMPLING_WILDCARD, WILD_LEN) == 0;
        /* a token that holds a masked variable is variable: it keys the <*>
         * child in the tree and may differ from the template's */
        t->var = (uint8_t)var;
    }
    return n;
}

static int is_var_key(const sampling_miner *m, const char *p, uint32_t len, uint64_t h)
{
    for (uint32_t i = 0; i < m->n_keys; i++)
        if (m->keys[i].h == h && m->keys[i].len == len && memcmp(m->keys[i].p, p, len) == 0)
            return 1;
    return 0;
}

/* Share of the line's tokens that agree with the template: equal constants,
 * and template variables where the line has a variable too. A line whose
 * words (tokens without a masked variable) differ from the template's
 * constant words in more places than the word allowance scores 0: log
 * templates mostly differ from each other in words, values mostly in masked
 * variables. A word right after a var_key ("user root") may differ freely. */
static double similarity(const sampling_miner *m, const cluster *c, const ltok *t, uint32_t n,
                         uint32_t extra_words)
{
    uint32_t eq = 0, words_differ = 0, wild_agree = 0;
    uint32_t allowed = (m->cfg.word_diff_per ? n / m->cfg.word_diff_per : 0) + extra_words;
    for (uint32_t i = 0; i < n; i++) {
        const ttok *x = &c->toks[i];
        if (x->wild) {
            wild_agree += t[i].var;
            continue;
        }
        if (tok_eq(c, x, &t[i]))
            eq++;
        else if (!x->var && !t[i].var && !x->after_key && ++words_differ > allowed)
            return 0;
    }
    return (double)(eq + wild_agree) / (double)n;
}

static cluster *leaf_best(const sampling_miner *m, const node *leaf, const ltok *t, uint32_t n,
                          double *best_sim)
{
    cluster *best = NULL;
    double bs = -1;
    /* many templates of one shape in a leaf: a word there is likely a value */
    uint32_t extra = m->cfg.crowded_leaf && leaf->ncl >= m->cfg.crowded_leaf;
    for (uint32_t i = 0; i < leaf->ncl; i++) {
        cluster *c = leaf->cl[i];
        double s = similarity(m, c, t, n, extra);
        /* ties go to more variables, then to the older template, so that
         * the choice does not depend on the order within the leaf */
        if (s > bs || (s == bs && best &&
                       (c->nwild > best->nwild || (c->nwild == best->nwild && c->id < best->id)))) {
            bs = s;
            best = c;
        }
    }
    *best_sim = bs;
    return best;
}

/* Renders a template from per-token (text, len) and the separators of the
 * old text; returns a new cluster text block with offsets in toks. */
static char *render(const char *const *ptr, const uint32_t *lens, const char *const *seps,
                    const uint32_t *sep_lens, uint32_t n, ttok *toks, uint32_t *out_len)
{
    size_t total = 1;
    for (uint32_t i = 0; i < n; i++)
        total += lens[i] + (i ? sep_lens[i] : 0);
    char *s = malloc(total);
    if (!s)
        return NULL;
    size_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            memcpy(s + o, seps[i], sep_lens[i]);
            o += sep_lens[i];
        }
        memcpy(s + o, ptr[i], lens[i]);
        toks[i].off = (uint32_t)o;
        toks[i].len = lens[i];
        toks[i].h = tok_hash(ptr[i], lens[i]);
        toks[i].wild = lens[i] == WILD_LEN && memcmp(ptr[i], SAMPLING_WILDCARD, WILD_LEN) == 0;
        o += lens[i];
    }
    s[o] = 0;
    *out_len = (uint32_t)o;
    return s;
}

/* Turns the template's differing constants into <*>. 1 changed, 0 not, -1 OOM
 * (the cluster is unchanged). */
static int cluster_merge(cluster *c, const ltok *t, uint32_t n)
{
    uint32_t differ = 0;
    for (uint32_t i = 0; i < n; i++) {
        const ttok *x = &c->toks[i];
        if (ttok_is_wild(c, i))
            continue;
        if (!tok_eq(c, x, &t[i]))
            differ++;
    }
    if (!differ)
        return 0;
    /* scratch for the renderer, one allocation */
    size_t per = sizeof(char *) * 2 + sizeof(uint32_t) * 2;
    void *blk = malloc(per * n + sizeof(ttok) * n);
    if (!blk)
        return -1;
    const char **ptr = blk;
    const char **seps = ptr + n;
    uint32_t *lens = (uint32_t *)(seps + n);
    uint32_t *sep_lens = lens + n;
    ttok *nt = (ttok *)(void *)(sep_lens + n);
    _Static_assert(_Alignof(ttok) <= 8, "ttok alignment");
    uint32_t nwild = 0;
    for (uint32_t i = 0; i < n; i++) {
        const ttok *x = &c->toks[i];
        int wild = ttok_is_wild(c, i) || !tok_eq(c, x, &t[i]);
        ptr[i] = wild ? SAMPLING_WILDCARD : c->text + x->off;
        lens[i] = wild ? WILD_LEN : x->len;
        nwild += (uint32_t)wild;
        if (i) {
            uint32_t prev_end = c->toks[i - 1].off + c->toks[i - 1].len;
            seps[i] = c->text + prev_end;
            sep_lens[i] = x->off - prev_end;
        } else {
            seps[i] = NULL;
            sep_lens[i] = 0;
        }
    }
    ttok *keep = malloc(sizeof(ttok) * n);
    uint32_t tl;
    char *text = keep ? render(ptr, lens, seps, sep_lens, n, nt, &tl) : NULL;
    if (!text) {
        free(keep);
        free(blk);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        nt[i].var = nt[i].wild ? 1 : c->toks[i].var;
    memcpy(keep, nt, sizeof(ttok) * n);
    free(c->text);
    free(c->toks);
    c->text = text;
    c->text_len = tl;
    c->toks = keep;
    c->nwild = nwild;
    free(blk);
    return 1;
}

/* Marks the tokens that follow a var_key (see similarity()); the marks
 * change only when a template token does, so they are set at create and
 * after each generalisation. */
static void cluster_mark_keys(const sampling_miner *m, cluster *c)
{
    for (uint32_t i = 0; i < c->ntok; i++) {
        const ttok *prev = i ? &c->toks[i - 1] : NULL;
        c->toks[i].after_key =
            prev && !prev->wild && is_var_key(m, c->text + prev->off, prev->len, prev->h);
    }
}

static cluster *cluster_new(const sampling_miner *m, const ltok *t, uint32_t n)
{
    cluster *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    /* the tokens, each after the blanks that preceded it in the line */
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        len += t[i].len + (i ? t[i].sep : 0);
    c->text = malloc(len + 1);
    c->toks = malloc(sizeof(ttok) * (n ? n : 1));
    if (!c->text || !c->toks) {
        cluster_free(c);
        return NULL;
    }
    size_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i) {
            memcpy(c->text + o, t[i].p - t[i].sep, t[i].sep);
            o += t[i].sep;
        }
        memcpy(c->text + o, t[i].p, t[i].len);
        c->toks[i] = (ttok){.h = t[i].h,
                            .off = (uint32_t)o,
                            .len = t[i].len,
                            .wild = t[i].wild,
                            .var = t[i].var,
                            .after_key = 0};
        c->nwild += t[i].wild;
        o += t[i].len;
    }
    c->text[o] = 0;
    c->text_len = (uint32_t)o;
    c->ntok = n;
    cluster_mark_keys(m, c);
    return c;
}

/* Walks the existing tree for a lookup: exact key, else the <*> child. */
static node *tree_search(const sampling_miner *m, const ltok *t, uint32_t n)
{
    node *cur = m->st.roots[n];
    uint32_t levels = n < m->cfg.depth ? n : m->cfg.depth;
    for (uint32_t i = 0; cur && i < levels; i++) {
        node *next = t[i].var ? NULL : node_find_kid(cur, t[i].p, t[i].len, t[i].h);
        cur = next ? next : cur->wild;
    }
    return cur;
}

/* Creates the path for a new template; NULL on OOM. */
static node *tree_insert_path(sampling_miner *m, const ltok *t, uint32_t n, uint32_t *path_wild)
{
    if (!m->st.roots[n]) {
        m->st.roots[n] = node_new(NULL, -2);
        if (!m->st.roots[n])
            return NULL;
    }
    node *cur = m->st.roots[n];
    uint32_t levels = n < m->cfg.depth ? n : m->cfg.depth;
    *path_wild = 0;
    for (uint32_t i = 0; i < levels; i++) {
        int ww = 0;
        node *next = node_descend_create(cur, t[i].p, t[i].len, t[i].h, t[i].var,
                                         m->cfg.max_children, 0, &ww);
        if (!next) {
            node_prune(cur);
            return NULL;
        }
        *path_wild |= (uint32_t)ww << i;
        cur = next;
    }
    return cur;
}

sonde_status sampling_miner_add(sampling_miner *m, const char *line, size_t len,
                                sampling_add_result *res)
{
    memset(res, 0, sizeof *res);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len > m->cfg.max_line_len)
        len = m->cfg.max_line_len;
    size_t ml = sampling_masker_apply(&m->masker, line, len, m->masked);
    ltok *t = m->toks;
    uint32_t n = tokenize(m, m->masked, ml);
    if (n == 0) {
        /* a blank line is the one-token template "" */
        t[0] = (ltok){m->masked, 0, 0, tok_hash("", 0), 0, 0};
        n = 1;
    }
    state *s = &m->st;
    node *leaf = tree_search(m, t, n);
    double sim = 0;
    cluster *c = leaf ? leaf_best(m, leaf, t, n, &sim) : NULL;
    if (c && sim >= m->cfg.sim_threshold) {
        int r = cluster_merge(c, t, n);
        if (r > 0)
            cluster_mark_keys(m, c);
        if (r < 0)
            return SONDE_ERR_NOMEM;
        res->changed = r > 0;
    } else {
        if (idmap_reserve(&s->ids) != 0)
            return SONDE_ERR_NOMEM;
        c = cluster_new(m, t, n);
        if (!c)
            return SONDE_ERR_NOMEM;
        if (s->n >= m->cfg.max_templates && s->lru_tail) {
            state_evict(s, s->lru_tail, NULL);
            res->evicted = 1;
        }
        uint32_t pw;
        node *l = tree_insert_path(m, t, n, &pw);
        if (l && l->ncl >= m->cfg.max_leaf_templates) {
            /* a full leaf gives up its least recently used template, so that
             * no line compares against more than max_leaf_templates */
            cluster *victim = l->cl[0];
            for (uint32_t i = 1; i < l->ncl; i++)
                if (l->cl[i]->last_used < victim->last_used)
                    victim = l->cl[i];
            state_evict(s, victim, l);
            res->evicted++;
        }
        if (!l || leaf_add(l, c) != 0) {
            if (l)
                node_prune(l);
            cluster_free(c);
            return SONDE_ERR_NOMEM;
        }
        c->path_wild = pw;
        c->id = s->next_id++;
        idmap_put(&s->ids, c);
        s->n++;
        lru_push_front(s, c);
        res->created = true;
    }
    c->count++;
    c->last_used = ++s->tick;
    if (s->lru_head != c) {
        lru_unlink(s, c);
        lru_push_front(s, c);
    }
    res->template_id = c->id;
    res->template_text = c->text;
    res->template_len = c->text_len;
    res->count = c->count;
    return SONDE_OK;
}

/* ---- put: a template from its text ------------------------------------------ */

/* Splits a template's text into m->toks as tokenize() splits a masked line,
 * with one difference: a run of equal variable tokens stays a run. A line's
 * run ("blk_<*> blk_<*>") is one token before it reaches a template, so such
 * a run in a template's text comes from merges ("a b" -> "<*> <*>") and each
 * of its tokens stands for one token of the lines. */
static uint32_t tokenize_template(sampling_miner *m, const char *s, size_t len)
{
    uint32_t n = 0, max = m->cfg.max_tokens;
    size_t i = 0;
    while (i < len) {
        size_t sep_b = i;
        while (i < len && is_blank((unsigned char)s[i]))
            i++;
        if (i >= len)
            break;
        size_t b = i;
        if (n + 1 == max) {
            /* the last slot takes the rest, as a line's does */
            i = len;
            while (i > b && is_blank((unsigned char)s[i - 1]))
                i--;
        } else {
            while (i < len && !is_blank((unsigned char)s[i]))
                i++;
        }
        ltok *t = &m->toks[n++];
        t->p = s + b;
        t->len = (uint32_t)(i - b);
        t->sep = (uint32_t)(b - sep_b);
        t->h = tok_hash(t->p, t->len);
        t->wild = t->len == WILD_LEN && memcmp(t->p, SAMPLING_WILDCARD, WILD_LEN) == 0;
        t->var = memchr(t->p, '<', t->len) != NULL;
        if (i >= len)
            break;
    }
    return n;
}

sonde_status sampling_miner_put(sampling_miner *m, uint64_t id, const char *text, size_t len,
                                uint64_t count)
{
    /* a template's text is a masked line: at most 3 bytes per line byte */
    if (id == 0 || id == UINT64_MAX || !text || len > (size_t)m->cfg.max_line_len * 3)
        return SONDE_ERR_INVALID;
    state *s = &m->st;
    ltok *t = m->toks;
    uint32_t n = tokenize_template(m, text, len);
    if (n == 0)
        return SONDE_ERR_INVALID; /* empty or blank */
    cluster *old = idmap_get(&s->ids, id);
    if (!old && idmap_reserve(&s->ids) != 0)
        return SONDE_ERR_NOMEM;
    cluster *c = cluster_new(m, t, n);
    if (!c)
        return SONDE_ERR_NOMEM;
    if (!old && s->n >= m->cfg.max_templates && s->lru_tail)
        state_evict(s, s->lru_tail, NULL);
    /* the path a line of this template creates: a token holding a variable
     * keys the <*> child, a word its own child while the node has room */
    uint32_t pw;
    node *l = tree_insert_path(m, t, n, &pw);
    if (l && l->ncl >= m->cfg.max_leaf_templates && !(old && old->leaf == l)) {
        cluster *victim = l->cl[0];
        for (uint32_t i = 1; i < l->ncl; i++)
            if (l->cl[i]->last_used < victim->last_used)
                victim = l->cl[i];
        state_evict(s, victim, l);
    }
    if (!l || leaf_add(l, c) != 0) {
        if (l)
            node_prune(l);
        cluster_free(c);
        return SONDE_ERR_NOMEM; /* the old template, if any, is untouched */
    }
    if (old) {
        /* c is in l already, so pruning the old leaf cannot remove l */
        node *ol = old->leaf;
        leaf_remove(old);
        if (ol != l)
            node_prune(ol);
        lru_unlink(s, old);
        idmap_del(&s->ids, id);
        cluster_free(old);
        s->n--;
    }
    c->path_wild = pw;
    c->id = id;
    c->count = count;
    c->last_used = ++s->tick;
    idmap_put(&s->ids, c);
    s->n++;
    lru_push_front(s, c);
    if (s->next_id <= id)
        s->next_id = id + 1;
    return SONDE_OK;
}

/* ---- lookup and iteration -------------------------------------------------- */

sonde_status sampling_miner_lookup(const sampling_miner *m, uint64_t id, const char **text,
                                   uint64_t *count)
{
    const cluster *c = idmap_get(&m->st.ids, id);
    if (!c)
        return SONDE_ERR_NOT_FOUND;
    if (text)
        *text = c->text;
    if (count)
        *count = c->count;
    return SONDE_OK;
}

size_t sampling_miner_template_count(const sampling_miner *m)
{
    return m->st.n;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = (*(cluster *const *)a)->id, y = (*(cluster *const *)b)->id;
    return (x > y) - (x < y);
}

sonde_status sampling_miner_foreach(const sampling_miner *m,
                                    bool (*fn)(const sampling_template_info *t, void *arg),
                                    void *arg)
{
    size_t n = m->st.n;
    cluster **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return SONDE_ERR_NOMEM;
    size_t k = 0;
    for (cluster *c = m->st.lru_head; c; c = c->lru_next)
        v[k++] = c;
    qsort(v, k, sizeof *v, cmp_id);
    for (size_t i = 0; i < k; i++) {
        sampling_template_info ti = {v[i]->id, v[i]->count, v[i]->text, v[i]->text_len};
        if (!fn(&ti, arg))
            break;
    }
    free(v);
    return SONDE_OK;
}

/* ---- save / load ------------------------------------------------------------ */

/*
 * Image, little-endian:
 *   "SNDTPL01" | u32 version=1 | u32 count | u64 next_id
 *   count x { u64 id | u64 count | u32 path_wild | u32 ntok | u32 text_len |
 *             text | ntok x (u32 off | u32 len) }      (least recently used first)
 *   u64 XXH3 of everything before it
 */
#define IMG_MAGIC "SNDTPL01"
#define IMG_VERSION 1u

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

sonde_status sampling_miner_save(const sampling_miner *m, uint8_t **out, size_t *out_len)
{
    size_t total = 8 + 4 + 4 + 8 + 8;
    for (const cluster *c = m->st.lru_head; c; c = c->lru_next)
        total += 8 + 8 + 4 + 4 + 4 + c->text_len + (size_t)c->ntok * 8;
    uint8_t *b = malloc(total);
    if (!b)
        return SONDE_ERR_NOMEM;
    uint8_t *p = b;
    memcpy(p, IMG_MAGIC, 8);
    put32(p + 8, IMG_VERSION);
    put32(p + 12, (uint32_t)m->st.n);
    put64(p + 16, m->st.next_id);
    p += 24;
    for (const cluster *c = m->st.lru_tail; c; c = c->lru_prev) {
        put64(p, c->id);
        put64(p + 8, c->count);
        put32(p + 16, c->path_wild);
        put32(p + 20, c->ntok);
        put32(p + 24, c->text_len);
        p += 28;
        memcpy(p, c->text, c->text_len);
        p += c->text_len;
        for (uint32_t i = 0; i < c->ntok; i++) {
            put32(p, c->toks[i].off);
            put32(p + 4, c->toks[i].len);
            p += 8;
        }
    }
    put64(p, hash64(b, (size_t)(p - b)));
    *out = b;
    *out_len = total;
    return SONDE_OK;
}

/* Checks the image without building anything. */
static sonde_status image_check(const uint8_t *d, size_t len, uint32_t max_tokens, uint32_t *count)
{
    if (len < 32 || memcmp(d, IMG_MAGIC, 8) != 0 || get32(d + 8) != IMG_VERSION)
        return SONDE_ERR_INVALID;
    if (get64(d + len - 8) != hash64(d, len - 8))
        return SONDE_ERR_INVALID;
    uint32_t n = get32(d + 12);
    uint64_t next_id = get64(d + 16);
    size_t p = 24, end = len - 8;
    for (uint32_t k = 0; k < n; k++) {
        if (end - p < 28)
            return SONDE_ERR_INVALID;
        uint64_t id = get64(d + p);
        uint32_t ntok = get32(d + p + 20), tl = get32(d + p + 24);
        p += 28;
        if (id == 0 || id >= next_id || ntok == 0 || ntok > max_tokens || tl > end - p)
            return SONDE_ERR_INVALID;
        p += tl;
        if ((end - p) / 8 < ntok)
            return SONDE_ERR_INVALID;
        uint32_t prev_end = 0;
        for (uint32_t i = 0; i < ntok; i++) {
            uint32_t off = get32(d + p), l = get32(d + p + 4);
            p += 8;
            if (off < prev_end || off > tl || l > tl - off || (i == 0 && off != 0))
                return SONDE_ERR_INVALID;
            prev_end = off + l;
        }
        if (prev_end != tl)
            return SONDE_ERR_INVALID;
    }
    if (p != end)
        return SONDE_ERR_INVALID;
    *count = n;
    return SONDE_OK;
}

sonde_status sampling_miner_load(sampling_miner *m, const uint8_t *d, size_t len)
{
    uint32_t n;
    if (!d || image_check(d, len, m->cfg.max_tokens, &n) != SONDE_OK)
        return SONDE_ERR_INVALID;
    state ns;
    if (state_init(&ns, m->cfg.max_tokens) != 0)
        return SONDE_ERR_NOMEM;
    ns.next_id = get64(d + 16);
    sonde_status st = SONDE_OK;
    size_t p = 24;
    ltok *t = m->toks;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t id = get64(d + p), count = get64(d + p + 8);
        uint32_t pw = get32(d + p + 16), ntok = get32(d + p + 20), tl = get32(d + p + 24);
        const char *text = (const char *)d + p + 28;
        p += 28 + tl;
        for (uint32_t i = 0; i < ntok; i++) {
            uint32_t off = get32(d + p), l = get32(d + p + 4);
            p += 8;
            t[i].p = text + off;
            t[i].len = l;
            t[i].sep = i ? off - (get32(d + p - 16) + get32(d + p - 12)) : 0;
            t[i].h = tok_hash(t[i].p, l);
            t[i].wild = l == WILD_LEN && memcmp(t[i].p, SAMPLING_WILDCARD, WILD_LEN) == 0;
            /* as tokenize() decides it: the token holds a masked variable */
            t[i].var = l && memchr(t[i].p, '<', l) != NULL;
        }
        if (idmap_get(&ns.ids, id)) {
            st = SONDE_ERR_INVALID; /* a duplicate id */
            break;
        }
        if (idmap_reserve(&ns.ids) != 0) {
            st = SONDE_ERR_NOMEM;
            break;
        }
        cluster *c = cluster_new(m, t, ntok);
        if (!c) {
            st = SONDE_ERR_NOMEM;
            break;
        }
        if (ns.n >= m->cfg.max_templates && ns.lru_tail)
            state_evict(&ns, ns.lru_tail, NULL);
        if (!ns.roots[ntok] && !(ns.roots[ntok] = node_new(NULL, -2))) {
            cluster_free(c);
            st = SONDE_ERR_NOMEM;
            break;
        }
        node *cur = ns.roots[ntok];
        uint32_t levels = ntok < m->cfg.depth ? ntok : m->cfg.depth;
        uint32_t got = 0;
        for (uint32_t i = 0; cur && i < levels; i++) {
            int ww = 0, want_wild = ((pw >> i) & 1) || t[i].wild; /* i < depth <= 31 */
            node *next = node_descend_create(cur, t[i].p, t[i].len, t[i].h, want_wild,
                                             m->cfg.max_children, 1, &ww);
            if (!next)
                node_prune(cur);
            got |= (uint32_t)ww << i;
            cur = next;
        }
        if (!cur || leaf_add(cur, c) != 0) {
            if (cur)
                node_prune(cur);
            cluster_free(c);
            st = SONDE_ERR_NOMEM;
            break;
        }
        c->id = id;
        c->count = count;
        c->path_wild = got;
        c->last_used = ++ns.tick; /* oldest first: keeps the LRU order */
        idmap_put(&ns.ids, c);
        ns.n++;
        lru_push_front(&ns, c);
    }
    if (st != SONDE_OK) {
        state_fini(&ns, m->cfg.max_tokens);
        return st;
    }
    state_fini(&m->st, m->cfg.max_tokens);
    m->st = ns;
    return SONDE_OK;
}
