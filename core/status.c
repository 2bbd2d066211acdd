/*
 * status.c - names of the sonde_status codes.
 *
 * Threads: any (pure). The names are stable: they appear in logs and in
 * self-monitoring labels, so never rename one.
 */
#include "status.h"

const char *sonde_status_name(sonde_status s)
{
    switch (s) {
    case SONDE_OK:
        return "ok";
    case SONDE_ERR_INVALID:
        return "invalid";
    case SONDE_ERR_LIMIT:
        return "limit";
    case SONDE_ERR_NOMEM:
        return "nomem";
    case SONDE_ERR_OVERLOAD:
        return "overload";
    case SONDE_ERR_STORAGE:
        return "storage";
    case SONDE_ERR_NOT_FOUND:
        return "not_found";
    case SONDE_ERR_UNSUPPORTED:
        return "unsupported";
    case SONDE_ERR_TIMEOUT:
        return "timeout";
    case SONDE_ERR_CANCELED:
        return "canceled";
    case SONDE_ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}
