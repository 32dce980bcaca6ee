/*
 * modsec-driver: libmodsecurity 3 (Debian's libmodsecurity3) evaluating the requests that
 * `cargo run --example waf_bench -- dump FILE` wrote, with the same CRS directory and paranoia
 * level our engine loads. The peer for bench/waf-engine.sh.
 *
 *   modsec-driver CRS_DIR PL rates FILE         one line per request: class placement blocked
 *   modsec-driver CRS_DIR PL bench FILE ITERS   per-request CPU and wall time, load time, RSS
 *
 * Request file: per request a line `REQ <class> <placement> <nheaders>`, then netstrings
 * (`<len>:<bytes>\n`) for method, uri, version, each header name and value, and the body.
 */
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <modsecurity/intervention.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct header { char *name, *value; size_t nlen, vlen; };
struct request {
    char class_[64], placement[32];
    char *method, *uri, *version, *body;
    size_t body_len;
    struct header *headers;
    int nheaders;
};

static char *netstring(FILE *f, size_t *len) {
    size_t n;
    if (fscanf(f, "%zu:", &n) != 1) return NULL;
    char *s = malloc(n + 1);
    if (!s || fread(s, 1, n, f) != n) { free(s); return NULL; }
    s[n] = 0;
    fgetc(f); /* the newline */
    if (len) *len = n;
    return s;
}

static struct request *read_requests(const char *path, int *count) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    int cap = 1024, n = 0;
    struct request *rs = malloc(sizeof *rs * cap);
    struct request r;
    while (fscanf(f, "REQ %63s %31s %d\n", r.class_, r.placement, &r.nheaders) == 3) {
        r.method = netstring(f, NULL);
        r.uri = netstring(f, NULL);
        r.version = netstring(f, NULL);
        r.headers = calloc(r.nheaders ? r.nheaders : 1, sizeof *r.headers);
        for (int i = 0; i < r.nheaders; i++) {
            r.headers[i].name = netstring(f, &r.headers[i].nlen);
            r.headers[i].value = netstring(f, &r.headers[i].vlen);
        }
        r.body = netstring(f, &r.body_len);
        if (!r.method || !r.uri || !r.version || !r.body) { fprintf(stderr, "%s: bad record %d\n", path, n); exit(2); }
        if (n == cap) rs = realloc(rs, sizeof *rs * (cap *= 2));
        rs[n++] = r;
    }
    fclose(f);
    *count = n;
    return rs;
}

static double now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static void quiet(void *data, const void *msg) { (void)data; (void)msg; }

/* Runs one request; returns the intervention status (0: passed). */
static int evaluate(ModSecurity *ms, RulesSet *rules, const struct request *r) {
    Transaction *t = msc_new_transaction(ms, rules, NULL);
    ModSecurityIntervention it = {200, 0, NULL, NULL, 0};
    int status = 0;
    const char *v = strncmp(r->version, "HTTP/", 5) == 0 ? r->version + 5 : r->version;
    msc_process_connection(t, "127.0.0.1", 40000, "127.0.0.1", 80);
    msc_process_uri(t, r->uri, r->method, v);
    for (int i = 0; i < r->nheaders; i++)
        msc_add_n_request_header(t, (const unsigned char *)r->headers[i].name, r->headers[i].nlen,
                                 (const unsigned char *)r->headers[i].value, r->headers[i].vlen);
    msc_process_request_headers(t);
    if (msc_intervention(t, &it) && it.disruptive) status = it.status;
    if (!status) {
        if (r->body_len) msc_append_request_body(t, (const unsigned char *)r->body, r->body_len);
        msc_process_request_body(t);
        if (msc_intervention(t, &it) && it.disruptive) status = it.status;
    }
    free(it.url);
    free(it.log);
    msc_process_logging(t);
    msc_transaction_cleanup(t);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s CRS_DIR PL rates|bench FILE [ITERS]\n", argv[0]);
        return 2;
    }
    const char *crs = argv[1];
    int pl = atoi(argv[2]);
    const char *mode = argv[3];
    int iters = argc > 5 ? atoi(argv[5]) : 200;
    int n;
    struct request *rs = read_requests(argv[4], &n);

    long rss_before = rss_kb();
    double t0 = now(CLOCK_MONOTONIC);
    ModSecurity *ms = msc_init();
    msc_set_connector_info(ms, "taskguard-bench");
    msc_set_log_cb(ms, quiet);
    RulesSet *rules = msc_create_rules_set();
    char conf[8192];
    /* ModSecurity's recommended base (modsecurity.conf-recommended), then CRS as CRS asks. */
    snprintf(conf, sizeof conf,
             "SecRuleEngine On\n"
             "SecRequestBodyAccess On\n"
             "SecRequestBodyLimit 13107200\n"
             "SecRequestBodyNoFilesLimit 1310720\n"
             "SecRequestBodyLimitAction Reject\n"
             "SecResponseBodyAccess Off\n"
             "SecAuditEngine Off\n"
             "SecDebugLogLevel 0\n"
             "SecArgumentSeparator &\n"
             "SecCookieFormat 0\n"
             "SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" "
             "\"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n"
             "SecRule REQUEST_HEADERS:Content-Type \"^application/json\" "
             "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
             "Include %s/crs-setup.conf.example\n"
             "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d\"\n"
             "Include %s/rules/*.conf\n",
             crs, pl, crs);
    const char *error = NULL;
    if (msc_rules_add(rules, conf, &error) < 0) {
        fprintf(stderr, "loading CRS from %s: %s\n", crs, error ? error : "?");
        return 1;
    }
    double load_ms = (now(CLOCK_MONOTONIC) - t0) / 1e3;
    long rss_after = rss_kb();

    if (strcmp(mode, "rates") == 0) {
        for (int i = 0; i < n; i++)
            printf("%s %s %d\n", rs[i].class_, rs[i].placement, evaluate(ms, rules, &rs[i]) != 0);
        return 0;
    }
    printf("load_ms %.1f\nrss_kb %ld\nrss_rules_kb %ld\n", load_ms, rss_after, rss_after - rss_before);
    for (int i = 0; i < n; i++) {
        /* Only the fixed benchmark requests; the corpora are for `rates`. */
        if (strcmp(rs[i].class_, "bench") != 0 && strncmp(rs[i].class_, "size-", 5) != 0) continue;
        int status = evaluate(ms, rules, &rs[i]); /* warm-up */
        double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
        /* ITERS runs, or fewer once 2 s of wall time are spent (large JSON bodies take
         * libmodsecurity seconds each); at least 3. */
        int k = 0;
        while (k < iters && (k < 3 || now(CLOCK_MONOTONIC) - w0 < 2e6)) { evaluate(ms, rules, &rs[i]); k++; }
        double cpu = (now(CLOCK_THREAD_CPUTIME_ID) - c0) / k;
        double wall = (now(CLOCK_MONOTONIC) - w0) / k;
        printf("req %s %s cpu_us %.1f wall_us %.1f status %d\n", rs[i].class_, rs[i].placement, cpu, wall, status);
    }
    printf("rss_end_kb %ld\n", rss_kb());
    return 0;
}
