/*
 * The kernel-socket client behind tools/scale: holds N keep-alive TCP connections to one
 * server, sends one GET on each, then closes them all at once. One thread, epoll, no
 * allocation per connection beyond a small record.
 *
 *   scale-client DST_IP PORT N SRC_IP[,SRC_IP...] [CONCURRENCY] [PHASE_SECONDS] [PATH] [STALL]
 *
 * A process holds at most PER_PROC connections (a machine's hard descriptor limit may be
 * 20,000 and not raisable without CAP_SYS_RESOURCE): N is split over forked children, each
 * running the phases on its share; the parent relays the phase lines and sums the counts
 * (a phase's time is the slowest child's).
 *
 * Phases are driven by lines on stdin so the caller can measure the server between them:
 *   connects N (at most CONCURRENCY connects in flight), prints
 *       "connected OK FAILED MS"                         then waits for a line;
 *   sends one GET on each connection and reads the whole response, prints
 *       "answered OK FAILED MS"                          then waits for a line;
 *   closes every connection, prints "closed MS" and exits.
 * PATH is what each GET asks for ("/" by default). With STALL (any value) the client
 * writes the requests, then reads nothing for a second so that every response is in
 * flight at once, prints "sent OK FAILED MS" and waits for a line, and only then reads
 * (the caller measures the server's memory in the middle of N transfers).
 * Connection g binds source address SRC[g / 60000] and port 1025 + g % 60000 itself: no
 * ephemeral port search in the kernel (which slows down as hundreds of thousands of
 * ports fill), so give at least N / 60000 addresses, fresh ones for each run (a TIME_WAIT
 * of an earlier run would hold the same 4-tuple). Every wait is
 * bounded (PHASE_SECONDS per phase, 120 by default): a server that stops answering ends
 * the phase, counted.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


enum { IDLE, CONNECTING, UP, WAITING, DONE, FAILED };

struct conn {
    int fd;
    uint8_t state;
    uint16_t hlen;   /* bytes of the response head gathered so far (in head) */
    int64_t left;    /* body bytes still to read; -1 until the head is complete */
    char *head;      /* only while a head is split across reads */
};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

#define PER_PROC 19000

/* A child reads its phase cues from `cue` and writes its results to `out`. */
static FILE *cue, *out;

static void wait_line(void) {
    char line[64];
    fflush(out);
    if (!fgets(line, sizeof line, cue)) exit(0);
}

/* Feeds response bytes to a connection; returns 1 when the response is complete. */
static int feed(struct conn *c, const char *p, size_t n) {
    if (c->left < 0) {
        if (!c->head) c->head = malloc(4096);
        size_t take = n;
        if (c->hlen + take > 4095) take = 4095 - c->hlen;
        memcpy(c->head + c->hlen, p, take);
        c->hlen += take;
        c->head[c->hlen] = 0;
        char *end = strstr(c->head, "\r\n\r\n");
        if (!end) return c->hlen >= 4095 ? -1 : 0;
        size_t head_len = end + 4 - c->head;
        char *cl = strcasestr(c->head, "\r\ncontent-length:");
        int64_t body = cl ? atoll(cl + 17) : 0;
        size_t extra = c->hlen - head_len + (n - take);
        c->left = body - (int64_t)extra;
        free(c->head);
        c->head = NULL;
        c->hlen = 0;
    } else {
        c->left -= n;
    }
    return c->left <= 0;
}

static double phase_ms = 120e3;
static const char *path = "/";
static int stall = 0;

static int run(struct sockaddr_in dst, long first, long n, struct in_addr *srcs, int nsrc,
               long conc);

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: scale-client DST_IP PORT N SRC_IP[,SRC_IP...] [CONCURRENCY] [PHASE_SECONDS]\n");
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
        fprintf(stderr, "scale-client: bad address %s\n", argv[1]);
        return 2;
    }
    long n = atol(argv[3]);
    struct in_addr srcs[64];
    int nsrc = 0;
    for (char *tok = strtok(argv[4], ","); tok && nsrc < 64; tok = strtok(NULL, ","))
        if (inet_pton(AF_INET, tok, &srcs[nsrc]) == 1) nsrc++;
    if (n <= 0 || nsrc * 60000L < n) {
        fprintf(stderr, "scale-client: need N > 0 and a source address per 60,000 connections\n");
        return 2;
    }
    long conc = argc > 5 ? atol(argv[5]) : 2000;
    if (argc > 6) phase_ms = atof(argv[6]) * 1e3;
    if (argc > 7) path = argv[7];
    if (argc > 8) stall = 1;
    int procs = (n + PER_PROC - 1) / PER_PROC;
    FILE *cues[procs], *outs[procs];
    for (int p = 0; p < procs; p++) {
        int down[2], up[2];
        if (pipe(down) || pipe(up)) { perror("scale-client: pipe"); return 1; }
        long first = p * (long)PER_PROC, count = n - first < PER_PROC ? n - first : PER_PROC;
        pid_t pid = fork();
        if (pid < 0) { perror("scale-client: fork"); return 1; }
        if (pid == 0) {
            close(down[1]); close(up[0]);
            for (int q = 0; q < p; q++) { fclose(cues[q]); fclose(outs[q]); }
            cue = fdopen(down[0], "r");
            out = fdopen(up[1], "w");
            /* Spread the children's in-flight connects over the total. */
            long c = conc / procs > 64 ? conc / procs : 64;
            return run(dst, first, count, srcs, nsrc, c);
        }
        close(down[0]); close(up[1]);
        cues[p] = fdopen(down[1], "w");
        outs[p] = fdopen(up[0], "r");
    }
    const char *plain[3] = {"connected", "answered", "closed"};
    const char *stalled[4] = {"connected", "sent", "answered", "closed"};
    const char **names = stall ? stalled : plain;
    int phases = stall ? 4 : 3;
    for (int phase = 0; phase < phases; phase++) {
        long a = 0, b = 0;
        double ms = 0;
        int last = phase == phases - 1;
        for (int p = 0; p < procs; p++) {
            char line[128], word[32];
            long x = 0, y = 0;
            double t = 0;
            if (!fgets(line, sizeof line, outs[p])) { fprintf(stderr, "scale-client: a child died\n"); return 1; }
            if (!last) sscanf(line, "%31s %ld %ld %lf", word, &x, &y, &t);
            else sscanf(line, "%31s %lf", word, &t);
            a += x; b += y;
            if (t > ms) ms = t;
        }
        if (!last) printf("%s %ld %ld %.0f\n", names[phase], a, b, ms);
        else printf("%s %.0f\n", names[phase], ms);
        fflush(stdout);
        if (last) break;
        char line[64];
        if (!fgets(line, sizeof line, stdin)) return 0;
        for (int p = 0; p < procs; p++) { fputs("go\n", cues[p]); fflush(cues[p]); }
    }
    return 0;
}

/* One process's share: connections [first, first + n). */
static int run(struct sockaddr_in dst, long first, long n, struct in_addr *srcs, int nsrc,
               long conc) {
    struct rlimit rl = {.rlim_cur = n + 64, .rlim_max = n + 64};
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_max < n + 64) {
        fprintf(stderr, "scale-client: the descriptor limit %ld is below %ld\n",
                (long)rl.rlim_max, n + 64);
        return 1;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct conn *cs = calloc(n, sizeof *cs);
    int ep = epoll_create1(0);
    struct epoll_event evs[4096];
    static char buf[1 << 16];
    char req[512];
    int req_len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: scale\r\n\r\n", path);

    /* Phase 1: connect. */
    double t0 = now_ms();
    long next = 0, pending = 0, up = 0, failed = 0;
    while ((next < n || pending > 0) && now_ms() - t0 < phase_ms) {
        while (next < n && pending < conc) {
            struct conn *c = &cs[next];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) { c->state = FAILED; failed++; next++; continue; }
            long g = first + next;
            struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = srcs[g / 60000],
                                      .sin_port = htons(1025 + g % 60000)};
            if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) {
                close(c->fd); c->fd = -1; c->state = FAILED; failed++; next++; continue;
            }
            int r = connect(c->fd, (struct sockaddr *)&dst, sizeof dst);
            if (r != 0 && errno != EINPROGRESS) {
                close(c->fd); c->fd = -1; c->state = FAILED; failed++; next++; continue;
            }
            c->state = CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = next};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            pending++;
            next++;
        }
        int k = epoll_wait(ep, evs, 4096, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = &cs[evs[i].data.u64];
            if (c->state != CONNECTING) continue;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            struct epoll_event ev = {.events = 0, .data.u64 = evs[i].data.u64};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            pending--;
            if (err == 0) { c->state = UP; up++; }
            else { c->state = FAILED; failed++; }
        }
    }
    fprintf(out, "connected %ld %ld %.0f\n", up, n - up, now_ms() - t0);
    wait_line();

    /* Phase 2: one request on each connection, all at once. */
    t0 = now_ms();
    long waiting = 0, answered = 0, bad = 0, eofs = 0, errs = 0, garbled = 0, unwritten = 0;
    int last_errno = 0;
    for (long i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        if (c->state != UP) continue;
        if (write(c->fd, req, req_len) != (ssize_t)req_len) {
            c->state = FAILED; bad++; unwritten++; continue;
        }
        c->state = WAITING;
        c->left = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        waiting++;
    }
    if (stall) {
        /* Every response on its way, none read: then the caller measures. */
        usleep(1000 * 1000);
        fprintf(out, "sent %ld %ld %.0f\n", waiting, up - waiting, now_ms() - t0);
        wait_line();
        t0 = now_ms();
    }
    while (waiting > 0 && now_ms() - t0 < phase_ms) {
        int k = epoll_wait(ep, evs, 4096, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = &cs[evs[i].data.u64];
            if (c->state != WAITING) continue;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r < 0 && errno == EAGAIN) continue;
            int done = r > 0 ? feed(c, buf, r) : -1;
            if (done < 0) {
                if (r == 0) eofs++;
                else if (r < 0) { errs++; last_errno = errno; }
                else garbled++;
            }
            if (done == 0) continue;
            struct epoll_event ev = {.events = 0, .data.u64 = evs[i].data.u64};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            waiting--;
            if (done > 0) { c->state = DONE; answered++; }
            else { c->state = FAILED; bad++; }
        }
    }
    if (bad || waiting)
        fprintf(stderr, "scale-client: %ld not answered: %ld still waiting, %ld request writes failed, %ld closed by the server (EOF), %ld read errors (last: %s), %ld bad responses\n",
                up - answered, waiting, unwritten, eofs, errs, last_errno ? strerror(last_errno) : "none", garbled);
    fprintf(out, "answered %ld %ld %.0f\n", answered, up - answered, now_ms() - t0);
    wait_line();

    /* Phase 3: close everything at once. */
    t0 = now_ms();
    for (long i = 0; i < n; i++)
        if (cs[i].fd > 0) close(cs[i].fd);
    fprintf(out, "closed %.0f\n", now_ms() - t0);
    fflush(out);
    return 0;
}
