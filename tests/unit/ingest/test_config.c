/*
 * test_config.c - sonde's command line (ingest/config.c): --listen address
 * forms (IPv4, bracketed IPv6, port range), defaults, and bad flags.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "ingest/config.h"
#include "test.h"

static void test_listen_ipv4(void)
{
    ingest_listen_addr a;
    CHECK_EQ_INT(ingest_listen_addr_parse("127.0.0.1:9201", &a), 0);
    CHECK_EQ_INT(a.ss.ss_family, AF_INET);
    CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 9201);
    CHECK_EQ_STR(a.text, "127.0.0.1:9201");
    CHECK_EQ_INT(ingest_listen_addr_parse(":0", &a), 0);
    CHECK_EQ_STR(a.text, "0.0.0.0:0");
    CHECK_EQ_INT(ingest_listen_addr_parse("localhost:65535", &a), 0);
    CHECK_EQ_STR(a.text, "127.0.0.1:65535");
}

static void test_listen_ipv6(void)
{
    ingest_listen_addr a;
    CHECK_EQ_INT(ingest_listen_addr_parse("[::1]:9201", &a), 0);
    CHECK_EQ_INT(a.ss.ss_family, AF_INET6);
    CHECK_EQ_INT(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 9201);
    CHECK_EQ_STR(a.text, "[::1]:9201");
    CHECK_EQ_INT(ingest_listen_addr_parse("[::]:0", &a), 0);
}

static void test_listen_bad(void)
{
    ingest_listen_addr a;
    const char *bad[] = {"",
                         "9201",
                         "127.0.0.1",
                         "127.0.0.1:65536",
                         "127.0.0.1:-1",
                         "127.0.0.1:x",
                         "::1:9201",
                         "[::1]9201",
                         "[::1]:",
                         "300.1.1.1:80",
                         "[zz]:80",
                         "host.example:80",
                         "1.2.3.4:80 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ingest_listen_addr_parse(bad[i], &a);
        if (rc == 0)
            fprintf(stderr, "accepted bad address \"%s\"\n", bad[i]);
        CHECK(rc != 0);
    }
}

static ingest_cli_result parse(ingest_config *cfg, char **argv, int argc, char *err)
{
    ingest_config_defaults(cfg);
    FILE *devnull = fopen("/dev/null", "w");
    ingest_cli_result r = ingest_config_parse(cfg, argc, argv, devnull, err, 256);
    fclose(devnull);
    return r;
}

static void test_cli_defaults(void)
{
    ingest_config cfg;
    char err[256];
    char *argv[] = {"sonde", NULL};
    CHECK_EQ_INT(parse(&cfg, argv, 1, err), INGEST_CLI_RUN);
    CHECK_EQ_INT(cfg.nlisten, 3);
    CHECK_EQ_STR(cfg.listen[0].text, "0.0.0.0:9201");
    CHECK_EQ_STR(cfg.listen[1].text, "0.0.0.0:4317");
    CHECK_EQ_STR(cfg.listen[2].text, "0.0.0.0:4318");
    CHECK_EQ_STR(cfg.data_dir, "./data");
    CHECK_EQ_INT(cfg.max_body_size, 32 << 20);
    CHECK_EQ_INT(cfg.header_timeout_ms, 10000);
    CHECK_EQ_INT(cfg.idle_timeout_ms, 300000);
    CHECK(cfg.net_threads >= 1 && cfg.net_threads <= 4);
}

static void test_cli_listen_exact(void)
{
    ingest_config cfg;
    char err[256];
    char *argv[] = {"sonde",       "--listen",
                    "127.0.0.1:0", "--listen=[::1]:0",
                    "--fsync",     "--max-body-size",
                    "1MiB",        "--idle-timeout",
                    "90s",         NULL};
    CHECK_EQ_INT(parse(&cfg, argv, 9, err), INGEST_CLI_RUN);
    CHECK_EQ_INT(cfg.nlisten, 2);
    CHECK_EQ_STR(cfg.listen[0].text, "127.0.0.1:0");
    CHECK_EQ_STR(cfg.listen[1].text, "[::1]:0");
    CHECK(cfg.fsync);
    CHECK_EQ_INT(cfg.max_body_size, 1 << 20);
    CHECK_EQ_INT(cfg.idle_timeout_ms, 90000);
}

static void test_cli_max_inflight(void)
{
    ingest_config cfg;
    char err[256];
    char *a0[] = {"sonde", NULL};
    CHECK_EQ_INT(parse(&cfg, a0, 1, err), INGEST_CLI_RUN);
    CHECK(cfg.max_inflight_bytes == (1ull << 30));
    char *a1[] = {"sonde", "--max-inflight-bytes", "256MiB", NULL};
    CHECK_EQ_INT(parse(&cfg, a1, 3, err), INGEST_CLI_RUN);
    CHECK(cfg.max_inflight_bytes == (256ull << 20));
    char *a2[] = {"sonde", "--max-inflight-bytes", "0", NULL};
    CHECK_EQ_INT(parse(&cfg, a2, 3, err), INGEST_CLI_EXIT_BAD);
    CHECK(strstr(err, "--max-inflight-bytes") != NULL);
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    ingest_config_usage(f, "sonde");
    fclose(f);
    CHECK(strstr(buf, "--max-inflight-bytes") != NULL);
}

static void test_cli_otlp_and_logs(void)
{
    ingest_config cfg;
    char err[256];
    char *a0[] = {"sonde", NULL};
    CHECK_EQ_INT(parse(&cfg, a0, 1, err), INGEST_CLI_RUN);
    CHECK(!cfg.otlp_keep_names);
    CHECK_EQ_INT(cfg.notlp_promote, 0);
    CHECK(cfg.logs_rate == (64ull << 20) && cfg.logs_max_streams == 5000);
    CHECK(cfg.logs_max_line == (256u << 10) && cfg.logs_max_labels == 15);
    char *a1[] = {"sonde",
                  "--otlp.translation=none",
                  "--otlp.promote-resource-attributes=deployment.environment,,k8s.pod.name",
                  "--otlp.promote-resource-attributes",
                  "cloud.region",
                  "--logs.ingestion-rate=1MiB",
                  "--logs.max-streams=0",
                  "--logs.max-labels=20",
                  NULL};
    CHECK_EQ_INT(parse(&cfg, a1, 8, err), INGEST_CLI_RUN);
    CHECK(cfg.otlp_keep_names);
    CHECK_EQ_INT(cfg.notlp_promote, 3);
    CHECK_EQ_STR(cfg.otlp_promote[0], "deployment.environment");
    CHECK_EQ_STR(cfg.otlp_promote[1], "k8s.pod.name");
    CHECK_EQ_STR(cfg.otlp_promote[2], "cloud.region");
    CHECK(cfg.logs_rate == (1u << 20) && cfg.logs_max_streams == 0 && cfg.logs_max_labels == 20);
    char *a2[] = {"sonde", "--otlp.translation=dots", NULL};
    CHECK_EQ_INT(parse(&cfg, a2, 2, err), INGEST_CLI_EXIT_BAD);
    CHECK(strstr(err, "--otlp.translation") != NULL);
    /* logs: retention and sampling */
    CHECK_EQ_INT(parse(&cfg, a0, 1, err), INGEST_CLI_RUN);
    CHECK(!cfg.logs_sampling && cfg.logs_retention_ms == 0);
    CHECK(cfg.logs_sampling_goal_rate == 10 && cfg.logs_sampling_goal_throughput == 0);
    CHECK(cfg.logs_sampling_interval_ms == 15000);
    char *a3[] = {"sonde", "--logs.retention=720h", "--logs.sampling",
                  "--logs.sampling.goal-rate=50", "--logs.sampling.goal-throughput=200",
                  "--logs.sampling.interval=5s", NULL};
    CHECK_EQ_INT(parse(&cfg, a3, 6, err), INGEST_CLI_RUN);
    CHECK(cfg.logs_retention_ms == 720LL * 3600 * 1000 && cfg.logs_sampling);
    CHECK(cfg.logs_sampling_goal_rate == 50 && cfg.logs_sampling_goal_throughput == 200);
    CHECK(cfg.logs_sampling_interval_ms == 5000);
    char *a4[] = {"sonde", "--logs.sampling.goal-rate=0", NULL};
    CHECK_EQ_INT(parse(&cfg, a4, 2, err), INGEST_CLI_EXIT_BAD);
    char *a5[] = {"sonde", "--logs.sampling.interval=1ms", NULL};
    CHECK_EQ_INT(parse(&cfg, a5, 2, err), INGEST_CLI_EXIT_BAD);
}

static void test_cli_bad(void)
{
    ingest_config cfg;
    char err[256];
    char *a1[] = {"sonde", "--bogus", NULL};
    CHECK_EQ_INT(parse(&cfg, a1, 2, err), INGEST_CLI_EXIT_BAD);
    CHECK(strstr(err, "--bogus") != NULL);
    char *a2[] = {"sonde", "--listen", "nope", NULL};
    CHECK_EQ_INT(parse(&cfg, a2, 3, err), INGEST_CLI_EXIT_BAD);
    CHECK(strstr(err, "--listen") != NULL);
    char *a3[] = {"sonde", "--net-threads", "0", NULL};
    CHECK_EQ_INT(parse(&cfg, a3, 3, err), INGEST_CLI_EXIT_BAD);
    char *a4[] = {"sonde", "--header-timeout", "10", NULL};
    CHECK_EQ_INT(parse(&cfg, a4, 3, err), INGEST_CLI_EXIT_BAD);
    char *a5[] = {"sonde", "--data-dir", NULL};
    CHECK_EQ_INT(parse(&cfg, a5, 2, err), INGEST_CLI_EXIT_BAD);
    char *a6[] = {"sonde", "stray", NULL};
    CHECK_EQ_INT(parse(&cfg, a6, 2, err), INGEST_CLI_EXIT_BAD);
    char *a7[] = {"sonde", "--help", NULL};
    CHECK_EQ_INT(parse(&cfg, a7, 2, err), INGEST_CLI_EXIT_OK);
}

int main(void)
{
    RUN(test_listen_ipv4);
    RUN(test_listen_ipv6);
    RUN(test_listen_bad);
    RUN(test_cli_defaults);
    RUN(test_cli_listen_exact);
    RUN(test_cli_max_inflight);
    RUN(test_cli_otlp_and_logs);
    RUN(test_cli_bad);
    return TEST_DONE();
}
