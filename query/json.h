/*
 * json.h - Prometheus HTTP API JSON encoding of query results (json.c).
 * Threads: any; writes into a caller-owned buf (errors: SONDE_ERR_LIMIT when
 * the buf's cap is reached).
 */
#ifndef SONDE_QUERY_JSON_H
#define SONDE_QUERY_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/buf.h"
#include "eval.h"

/* Float seconds from ms, as Prometheus' MarshalTimestamp. */
sonde_status query_json_timestamp(buf *b, int64_t ms);
/* A sample value without quotes, as Prometheus' MarshalFloat. */
sonde_status query_json_float(buf *b, double v);
/* {"name":"value",...} */
sonde_status query_json_labels(buf *b, const sonde_label *l, uint32_t n);
/* A native histogram as Prometheus' MarshalHistogram writes it:
 * {"count":"4","sum":"5","buckets":[[0,"0.5","1","1"],...]} (populated
 * buckets only; rule 0 (l,u], 1 [l,u), 3 [l,u]). */
sonde_status query_json_histogram(buf *b, const sonde_fhist *h);
/* The "data" object: {"resultType":...,"result":...}. range: a query_range
 * result (always a matrix; scalars become one series without labels). */
sonde_status query_json_result(buf *b, const query_value *v, bool range);
/* `,"warnings":[..],"infos":[..]` (each only when non-empty) as Prometheus 3
 * writes them: "PromQL warning: <msg> (line:col)", the position in query q. */
sonde_status query_json_annotations(buf *b, const query_annotation *a, size_t n, const char *q,
                                    size_t qn);

#endif
