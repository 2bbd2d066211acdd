/*
 * ast_json.h - a PromQL AST the way Prometheus' /api/v1 serves it: as
 * parse_query's JSON (ast_json.c) and as format_query's text (print.c).
 * Any thread; the tree is only read.
 */
#ifndef SONDE_QUERY_AST_JSON_H
#define SONDE_QUERY_AST_JSON_H

#include "promql.h"

/* Appends n (NULL: null) as translateAST's JSON object to b. */
sonde_status query_ast_json(buf *b, const query_node *n);
/* Appends n as Prometheus' String() prints it (print.c; format_query). */
sonde_status query_ast_format(buf *b, const query_node *n);

#endif
