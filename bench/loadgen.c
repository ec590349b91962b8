/*
 * loadgen — an HTTP/1.1 load generator for the intake benchmark.
 *
 * Sends POST /v1/appeals over keep-alive connections, each body a different realistic appeal
 * (its own enterprise and credit code, so none is linked as a duplicate), registered by an
 * intake agent who accepts it at once. Two modes:
 *   closed loop (--rate 0): every connection sends its next request as soon as the previous
 *     answer arrives — the peak sustained rate;
 *   open loop (--rate R): requests are scheduled at R per second regardless of answers, and
 *     latency is measured from the scheduled instant, so a stall counts in full (no
 *     coordinated omission).
 * Prints one line: sent=<n> ok=<n> errors=<n> seconds=<s> rate=<n/s> p50_ms= p99_ms= max_ms=
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uscc.h"

typedef struct conn conn_t;

typedef struct {
    struct event_base *base;
    struct sockaddr_in addr;
    const char *token;
    int nconns;
    double rate, seconds;
    double t0, t_end;
    long long sent, ok, errors, seq;
    double *lat;
    size_t nlat, caplat;
    conn_t *conns;
    struct event *tick;
    long long scheduled; /* open loop: requests due so far */
    int stopping;
} lg_t;

struct conn {
    lg_t *lg;
    struct bufferevent *bev;
    int busy;
    double started; /* scheduled (open loop) or sent (closed loop) instant */
    size_t need;    /* body bytes still expected; 0 while reading the head */
    int status;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const districts[] = {"450102", "450103", "450105", "450107", "450108", "450109", "450202", "450203",
                                        "450302", "450303", "450403", "450502", "450602", "450702", "450802", "450902"};
static const char *const matters[] = {"厂房租金减免政策落实不到位", "电力增容审批时间过长", "拖欠工程款至今未结清",
                                      "消防验收迟迟未通过", "门前道路施工影响货车通行", "出口退税进度缓慢",
                                      "招工难希望协助对接", "用地审批手续办理受阻", "融资贷款担保难"};

static void send_one(conn_t *c, double started)
{
    lg_t *lg = c->lg;
    long long n = ++lg->seq;
    /* a valid credit code per request: 9145 + district 6 + serial 7 → org check + check char */
    char cc[USCC_BUFSZ];
    const char *d = districts[n % 16];
    char first16[32];
    snprintf(first16, sizeof first16, "91%.6s%08lld", d, 10000000LL + n % 90000000LL);
    char org[10];
    memcpy(org, first16 + 8, 8);
    org[8] = uscc_org_check_char(org);
    char first17[32];
    snprintf(first17, sizeof first17, "%.16s%c", first16, org[8]);
    snprintf(cc, sizeof cc, "%.17s%c", first17, uscc_check_char(first17));
    char body[2048];
    int bl = snprintf(body, sizeof body,
                      "{\"enterprise_name\":\"广西第%lld号商贸有限公司\",\"credit_code\":\"%s\","
                      "\"address\":\"%s某路%lld号\",\"region_code\":\"%s\",\"contact_name\":\"张经理\","
                      "\"contact_phone\":\"1380771%04lld\",\"channel\":\"hotline\",\"kind\":\"complaint\","
                      "\"summary\":\"%s（第%lld号）\",\"body\":\"我公司反映：%s，已影响正常经营，编号%lld，"
                      "请相关部门尽快协调解决。\",\"decision\":{\"action\":\"accept\",\"complexity\":\"general\","
                      "\"matter_type\":\"营商环境\"}}",
                      n, cc, d, n, d, n % 10000, matters[n % 9], n, matters[n % 9], n);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "POST /v1/appeals HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
                        lg->token, bl);
    evbuffer_add(out, body, (size_t)bl);
    c->busy = 1;
    c->started = started;
    c->need = 0;
    lg->sent++;
}

static void record(lg_t *lg, double ms)
{
    if (lg->nlat == lg->caplat) {
        lg->caplat = lg->caplat ? lg->caplat * 2 : 65536;
        lg->lat = realloc(lg->lat, lg->caplat * sizeof *lg->lat);
    }
    lg->lat[lg->nlat++] = ms;
}

static void conn_read(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    lg_t *lg = c->lg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        if (c->need == 0) {
            struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            if (p.pos < 0) return;
            size_t hl = (size_t)p.pos + 4;
            char *head = malloc(hl + 1);
            evbuffer_remove(in, head, hl);
            head[hl] = '\0';
            c->status = atoi(head + 9);
            const char *cl = strcasestr(head, "\r\nContent-Length:");
            c->need = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
            free(head);
            if (c->need == 0) c->need = (size_t)-1; /* no body: done */
        }
        if (c->need != (size_t)-1) {
            if (evbuffer_get_length(in) < c->need) return;
            evbuffer_drain(in, c->need);
        }
        c->need = 0;
        double t = now_s();
        if (c->status == 201) lg->ok++;
        else lg->errors++;
        record(lg, (t - c->started) * 1000.0);
        c->busy = 0;
        if (t >= lg->t_end) {
            lg->stopping = 1;
            return;
        }
        if (lg->rate <= 0) send_one(c, now_s());
        if (evbuffer_get_length(in) == 0) return;
    }
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    conn_t *c = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        fprintf(stderr, "loadgen: connection lost (%s)\n", (what & BEV_EVENT_EOF) ? "eof" : strerror(errno));
        c->lg->errors++;
        c->lg->stopping = 1;
        event_base_loopbreak(c->lg->base);
    }
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    lg_t *lg = arg;
    (void)fd;
    (void)what;
    double t = now_s();
    int busy = 0;
    for (int i = 0; i < lg->nconns; i++) busy += lg->conns[i].busy;
    if (t >= lg->t_end || lg->stopping) {
        if (busy == 0 || t > lg->t_end + 10) event_base_loopbreak(lg->base);
        return;
    }
    if (lg->rate > 0) {
        long long due = (long long)((t - lg->t0) * lg->rate);
        while (lg->scheduled < due) {
            double when = lg->t0 + (double)lg->scheduled / lg->rate;
            int sent = 0;
            for (int i = 0; i < lg->nconns && !sent; i++)
                if (!lg->conns[i].busy) {
                    send_one(&lg->conns[i], when);
                    sent = 1;
                }
            if (!sent) break; /* every connection busy: the backlog waits, and its latency grows */
            lg->scheduled++;
        }
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    lg_t lg;
    memset(&lg, 0, sizeof lg);
    const char *host = "127.0.0.1";
    int port = 8081;
    lg.nconns = 64;
    lg.seconds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--token")) lg.token = argv[i + 1];
        else if (!strcmp(argv[i], "--conns")) lg.nconns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) lg.seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) lg.rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seq")) lg.seq = atoll(argv[i + 1]);
        else {
            fprintf(stderr, "usage: loadgen --token T [--port 8081] [--conns 64] [--seconds 10] [--rate R] [--seq N]\n");
            return 2;
        }
    }
    if (lg.token == NULL) {
        fprintf(stderr, "loadgen: --token is required\n");
        return 2;
    }
    lg.base = event_base_new();
    lg.addr.sin_family = AF_INET;
    lg.addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &lg.addr.sin_addr);
    lg.conns = calloc((size_t)lg.nconns, sizeof *lg.conns);
    for (int i = 0; i < lg.nconns; i++) {
        conn_t *c = &lg.conns[i];
        c->lg = &lg;
        c->bev = bufferevent_socket_new(lg.base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&lg.addr, sizeof lg.addr) != 0) {
            fprintf(stderr, "loadgen: cannot connect to %s:%d\n", host, port);
            return 1;
        }
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    lg.t0 = now_s();
    lg.t_end = lg.t0 + lg.seconds;
    if (lg.rate <= 0)
        for (int i = 0; i < lg.nconns; i++) send_one(&lg.conns[i], now_s());
    lg.tick = event_new(lg.base, -1, EV_PERSIST, tick, &lg);
    struct timeval tv = {0, 1000};
    event_add(lg.tick, &tv);
    event_base_dispatch(lg.base);
    double secs = now_s() - lg.t0;
    qsort(lg.lat, lg.nlat, sizeof *lg.lat, cmp_d);
    double p50 = lg.nlat ? lg.lat[lg.nlat / 2] : 0, p99 = lg.nlat ? lg.lat[(size_t)((double)lg.nlat * 0.99)] : 0;
    double mx = lg.nlat ? lg.lat[lg.nlat - 1] : 0;
    printf("sent=%lld ok=%lld errors=%lld seconds=%.2f rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", lg.sent,
           lg.ok, lg.errors, secs, (double)lg.ok / secs, p50, p99, mx);
    for (int i = 0; i < lg.nconns; i++) bufferevent_free(lg.conns[i].bev);
    event_free(lg.tick);
    event_base_free(lg.base);
    free(lg.conns);
    free(lg.lat);
    return lg.errors > 0 ? 1 : 0;
}
