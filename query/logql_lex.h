/*
 * logql_lex.h - LogQL tokens (logql_lex.c), shared by logql_parse.c only.
 */
#ifndef SONDE_QUERY_LOGQL_LEX_H
#define SONDE_QUERY_LOGQL_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/arena.h"

typedef enum logql_tok {
    LQT_EOF = 0,
    LQT_ERROR,
    LQT_IDENT,
    LQT_STRING,
    LQT_NUMBER,
    LQT_DURATION,
    LQT_BYTES,
    LQT_LBRACE,
    LQT_RBRACE,
    LQT_LPAREN,
    LQT_RPAREN,
    LQT_LBRACKET,
    LQT_RBRACKET,
    LQT_COMMA,
    LQT_PIPE,    /* | */
    LQT_PIPE_EQ, /* |= */
    LQT_PIPE_RE, /* |~ */
    LQT_EQ,      /* = */
    LQT_NEQ,     /* != */
    LQT_RE,      /* =~ */
    LQT_NRE,     /* !~ */
    LQT_CMP_EQ,  /* == */
    LQT_GT,
    LQT_GE,
    LQT_LT,
    LQT_LE,
    LQT_ADD,
    LQT_SUB,
    LQT_MUL,
    LQT_DIV,
    LQT_MOD,
    LQT_POW,
} logql_tok;

typedef struct logql_token {
    logql_tok t;
    const char *s; /* source text */
    size_t n;
    const char *str; /* STRING: unquoted, in the arena */
    size_t str_len;
    double num; /* NUMBER */
    int line, col;
} logql_token;

typedef struct logql_lexer {
    const char *q;
    size_t n, pos;
    int line;
    size_t line_start;
    arena *a;
    char err[160]; /* LQT_ERROR: why */
} logql_lexer;

void logql_lex_init(logql_lexer *lx, arena *a, const char *q, size_t n);
/* The next token; LQT_ERROR with lx->err for a bad string or character, or
 * when the arena refuses (err "out of memory"). */
logql_token logql_lex_next(logql_lexer *lx);
/* Loki's name for a token in "unexpected X" (IDENTIFIER, STRING, }, $end...). */
const char *logql_tok_name(const logql_token *t);

#endif
