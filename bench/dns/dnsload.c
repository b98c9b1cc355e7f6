/*
 * dnsload: the DNS benchmark's load generator, its stand-in upstream and its name poller.
 * One C file, built by bench/dns/run.sh with `cc -O2`, so that neither the load nor the
 * upstream is the bottleneck a scripting language would be.
 *
 *   dnsload load SERVER PORT NAME TYPE CLIENTS SECONDS RCODE [WARMUP]
 *       CLIENTS UDP sockets, each with one query outstanding at a time (closed loop: the
 *       next query leaves when the answer arrived), all in one thread on epoll. Runs WARMUP
 *       seconds (default 0.3) unmeasured, then SECONDS measured; every answer must carry the
 *       query's ID and RCODE (0 NOERROR, 3 NXDOMAIN) and, for NOERROR, at least one answer
 *       record, or it counts as bad. A query unanswered for 1 s counts as lost and is sent
 *       again with a new ID. Prints one JSON object: queries answered per second, the
 *       latency percentiles in microseconds and its own CPU use (in cores).
 *   dnsload serve ADDRESS PORT LIFETIME
 *       Answers every query with NOERROR and, for type A, one A record 192.0.2.1 (TTL 60);
 *       other types get no records. The resolvers' upstream, and the responder that measures
 *       the load generator's own ceiling. Exits after LIFETIME seconds.
 *   dnsload wait SERVER PORT NAME ADDRESS TIMEOUT_MS
 *       Asks for NAME's A record every 250 µs until an answer holds ADDRESS. Prints
 *       "ready" once the first answer of any kind arrived (the resolver serves), then, when
 *       ADDRESS is answered, the CLOCK_MONOTONIC time in nanoseconds at which that answer
 *       arrived and how many queries met a closed port (ICMP port unreachable: nothing
 *       listened then). Exits 1 after TIMEOUT_MS without it.
 *
 * Traffic goes only to the address given: the benchmark gives it addresses inside the
 * namespaces it made.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static struct sockaddr_in address_of(const char *host, const char *port) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)atoi(port));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "dnsload: not an IPv4 address: %s\n", host);
        exit(2);
    }
    return sin;
}

/* A query for NAME (dotted) of TYPE, class IN, recursion desired; its length. */
static size_t make_query(uint8_t *out, uint16_t id, const char *name, uint16_t type) {
    size_t n = 0;
    out[n++] = id >> 8;
    out[n++] = id & 0xff;
    out[n++] = 0x01; /* RD */
    out[n++] = 0x00;
    out[n++] = 0; out[n++] = 1; /* QDCOUNT */
    memset(out + n, 0, 6);
    n += 6;
    const char *label = name;
    while (*label) {
        const char *dot = strchr(label, '.');
        size_t len = dot ? (size_t)(dot - label) : strlen(label);
        if (len == 0 || len > 63) break;
        out[n++] = (uint8_t)len;
        memcpy(out + n, label, len);
        n += len;
        if (!dot) break;
        label = dot + 1;
    }
    out[n++] = 0;
    out[n++] = type >> 8;
    out[n++] = type & 0xff;
    out[n++] = 0;
    out[n++] = 1;
    return n;
}

static uint16_t type_of(const char *text) {
    if (!strcmp(text, "A")) return 1;
    if (!strcmp(text, "AAAA")) return 28;
    if (!strcmp(text, "PTR")) return 12;
    return (uint16_t)atoi(text);
}

/* ---------------------------------------------------------------- load */

#define BUCKETS 200000 /* 1 µs each: up to 200 ms; later ones go in the last */

struct client {
    int fd;
    uint16_t id;
    uint64_t sent_at;
};

static uint32_t histogram[BUCKETS];

static uint64_t percentile(uint64_t count, double p) {
    if (count == 0) return 0;
    uint64_t rank = (uint64_t)(p * (double)count);
    if (rank >= count) rank = count - 1;
    uint64_t seen = 0;
    for (uint64_t i = 0; i < BUCKETS; i++) {
        seen += histogram[i];
        if (seen > rank) return i;
    }
    return BUCKETS - 1;
}

static int load(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: dnsload load SERVER PORT NAME TYPE CLIENTS SECONDS RCODE [WARMUP]\n");
        return 2;
    }
    struct sockaddr_in server = address_of(argv[2], argv[3]);
    const char *name = argv[4];
    uint16_t type = type_of(argv[5]);
    int clients = atoi(argv[6]);
    double seconds = atof(argv[7]);
    int rcode = atoi(argv[8]);
    double warmup = argc > 9 ? atof(argv[9]) : 0.3;
    if (clients < 1 || clients > 1024 || seconds <= 0 || seconds > 120) {
        fprintf(stderr, "dnsload: 1-1024 clients, at most 120 seconds\n");
        return 2;
    }

    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) die("epoll_create1");
    struct client *all = calloc((size_t)clients, sizeof *all);
    uint8_t query[512], answer[4096];
    uint16_t next_id = (uint16_t)(getpid() * 7919u);
    uint64_t start = now_ns();
    uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(seconds * 1e9);
    uint64_t answered = 0, lost = 0, bad = 0, sent = 0;
    uint64_t latency_sum = 0, latency_max = 0;

    for (int i = 0; i < clients; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0) die("connect");
        all[i].fd = fd;
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
    }
    /* send one query on client i */
#define SEND(i)                                                                   \
    do {                                                                          \
        all[i].id = next_id++;                                                    \
        size_t length = make_query(query, all[i].id, name, type);                 \
        all[i].sent_at = now_ns();                                                \
        if (send(all[i].fd, query, length, 0) < 0 && errno != EAGAIN) die("send"); \
        if (all[i].sent_at >= measure_from) sent++;                               \
    } while (0)
    for (int i = 0; i < clients; i++) SEND(i);

    struct epoll_event events[1024];
    uint64_t last_sweep = start;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= end) break;
        int ready = epoll_wait(epoll, events, 1024, 50);
        if (ready < 0 && errno != EINTR) die("epoll_wait");
        for (int e = 0; e < ready; e++) {
            int i = (int)events[e].data.u32;
            for (;;) {
                ssize_t count = recv(all[i].fd, answer, sizeof answer, 0);
                if (count < 0) break;
                uint64_t arrived = now_ns();
                if (count < 12) continue;
                uint16_t id = (uint16_t)(answer[0] << 8 | answer[1]);
                if (id != all[i].id) continue; /* a late answer to a query counted lost */
                int code = answer[3] & 0x0f;
                int records = answer[6] << 8 | answer[7];
                int good = (answer[2] & 0x80) && code == rcode && (rcode != 0 || records > 0);
                if (all[i].sent_at >= measure_from && arrived <= end) {
                    if (good) {
                        uint64_t us = (arrived - all[i].sent_at) / 1000;
                        histogram[us < BUCKETS ? us : BUCKETS - 1]++;
                        answered++;
                        latency_sum += us;
                        if (us > latency_max) latency_max = us;
                    } else {
                        bad++;
                    }
                }
                SEND(i);
                break;
            }
        }
        now = now_ns();
        if (now - last_sweep > 100000000ull) { /* every 100 ms: the lost ones go again */
            last_sweep = now;
            for (int i = 0; i < clients; i++) {
                if (now > all[i].sent_at + 1000000000ull) {
                    if (all[i].sent_at >= measure_from) lost++;
                    SEND(i);
                }
            }
        }
    }
    double measured = (double)(now_ns() - measure_from) / 1e9;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
    double total = (double)(now_ns() - start) / 1e9;
    printf("{\"clients\": %d, \"seconds\": %.3f, \"sent\": %llu, \"answered\": %llu, \"bad\": %llu, \"lost\": %llu, "
           "\"qps\": %.1f, \"mean_us\": %.1f, \"p50_us\": %llu, \"p90_us\": %llu, \"p99_us\": %llu, \"p999_us\": %llu, "
           "\"max_us\": %llu, \"own_cpu\": %.2f}\n",
           clients, measured, (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)bad,
           (unsigned long long)lost, answered / measured, answered ? (double)latency_sum / answered : 0.0,
           (unsigned long long)percentile(answered, 0.50), (unsigned long long)percentile(answered, 0.90),
           (unsigned long long)percentile(answered, 0.99), (unsigned long long)percentile(answered, 0.999),
           (unsigned long long)latency_max, cpu / total);
    return answered > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- serve */

/* The answer to one query in place (NOERROR; one A record 192.0.2.1 for type A); its
 * length, or 0 for a packet that gets none. */
static size_t answer_in_place(uint8_t *packet, size_t count) {
    if (count < 12 || (packet[2] & 0x80)) return 0;
    size_t end = 12; /* the question: the name's labels, then type and class */
    while (end < count && packet[end] != 0) end += 1 + packet[end];
    if (end + 5 > count) return 0;
    end += 5;
    uint16_t qtype = (uint16_t)(packet[end - 4] << 8 | packet[end - 3]);
    packet[2] = 0x80 | (packet[2] & 0x01); /* QR, RD echoed */
    packet[3] = 0x80;                      /* RA, NOERROR */
    packet[6] = 0;
    packet[7] = qtype == 1 ? 1 : 0;
    memset(packet + 8, 0, 4); /* no authority, no additional (an OPT record goes) */
    size_t n = end;
    if (qtype == 1) {
        static const uint8_t record[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
        memcpy(packet + n, record, sizeof record);
        n += sizeof record;
    }
    return n;
}

#define BATCH 64

static int serve(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: dnsload serve ADDRESS PORT LIFETIME\n");
        return 2;
    }
    struct sockaddr_in local = address_of(argv[2], argv[3]);
    double lifetime = atof(argv[4]);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) die("bind");
    struct timeval tick = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    uint64_t deadline = now_ns() + (uint64_t)(lifetime * 1e9);
    /* Batches in and out (recvmmsg, sendmmsg): the least work per query a server can do. */
    static uint8_t packets[BATCH][2048];
    struct sockaddr_in peers[BATCH];
    struct iovec vectors[BATCH];
    struct mmsghdr messages[BATCH], replies[BATCH];
    while (now_ns() < deadline) {
        for (int i = 0; i < BATCH; i++) {
            vectors[i] = (struct iovec){.iov_base = packets[i], .iov_len = sizeof packets[i] - 32};
            messages[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                                       .msg_iov = &vectors[i], .msg_iovlen = 1}};
        }
        int count = recvmmsg(fd, messages, BATCH, MSG_WAITFORONE, NULL);
        if (count <= 0) continue;
        int out = 0;
        for (int i = 0; i < count; i++) {
            size_t n = answer_in_place(packets[i], messages[i].msg_len);
            if (n == 0) continue;
            vectors[i].iov_len = n;
            replies[out++] = (struct mmsghdr){.msg_hdr = {.msg_name = &peers[i], .msg_namelen = messages[i].msg_hdr.msg_namelen,
                                                          .msg_iov = &vectors[i], .msg_iovlen = 1}};
        }
        if (out > 0) sendmmsg(fd, replies, (unsigned)out, 0);
    }
    return 0;
}

/* ---------------------------------------------------------------- wait */

/* Skips a name at *at (labels, ending in a zero or a pointer); 0 when it runs past the end. */
static int skip_name(const uint8_t *packet, size_t count, size_t *at) {
    while (*at < count) {
        uint8_t byte = packet[*at];
        if ((byte & 0xc0) == 0xc0) {
            *at += 2;
            return *at <= count;
        }
        if (byte == 0) {
            *at += 1;
            return 1;
        }
        *at += 1 + byte;
    }
    return 0;
}

/* Whether the answer section holds an A record with this address. */
static int has_address(const uint8_t *packet, size_t count, const struct in_addr *address) {
    if ((packet[3] & 0x0f) != 0) return 0;
    int questions = packet[4] << 8 | packet[5], answers = packet[6] << 8 | packet[7];
    size_t at = 12;
    for (int q = 0; q < questions; q++) {
        if (!skip_name(packet, count, &at) || at + 4 > count) return 0;
        at += 4;
    }
    for (int a = 0; a < answers; a++) {
        if (!skip_name(packet, count, &at) || at + 10 > count) return 0;
        uint16_t type = (uint16_t)(packet[at] << 8 | packet[at + 1]);
        uint16_t length = (uint16_t)(packet[at + 8] << 8 | packet[at + 9]);
        at += 10;
        if (at + length > count) return 0;
        if (type == 1 && length == 4 && memcmp(packet + at, address, 4) == 0) return 1;
        at += length;
    }
    return 0;
}

#define ASK_EVERY_NS 250000ull

static int wait_for(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: dnsload wait SERVER PORT NAME ADDRESS TIMEOUT_MS\n");
        return 2;
    }
    struct sockaddr_in server = address_of(argv[2], argv[3]);
    const char *name = argv[4];
    struct in_addr expected;
    if (inet_pton(AF_INET, argv[5], &expected) != 1) return 2;
    uint64_t deadline = now_ns() + (uint64_t)atoll(argv[6]) * 1000000ull;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0) die("connect");
    uint8_t query[512], answer[4096];
    uint16_t id = (uint16_t)(getpid() * 31u);
    int ready = 0;
    unsigned refused = 0;
    while (now_ns() < deadline) {
        size_t length = make_query(query, ++id, name, 1);
        uint64_t sent = now_ns();
        uint64_t next = sent + ASK_EVERY_NS;
        if (send(fd, query, length, 0) < 0) {
            /* port unreachable came back for an earlier query: nothing listened then */
            if (errno != ECONNREFUSED) die("send");
            refused++;
        }
        /* its answer, then the rest of the interval; or the interval without one */
        for (;;) {
            uint64_t now = now_ns();
            if (now >= next) break;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            struct timespec left = {0, (long)(next - now)};
            if (ppoll(&p, 1, &left, NULL) <= 0) break;
            ssize_t count = recv(fd, answer, sizeof answer, 0);
            uint64_t arrived = now_ns();
            if (count < 0 && errno == ECONNREFUSED) refused++;
            if (count < 12 || (uint16_t)(answer[0] << 8 | answer[1]) != id) continue;
            if (!ready) {
                ready = 1;
                printf("ready\n");
                fflush(stdout);
            }
            if (has_address(answer, (size_t)count, &expected)) {
                printf("%llu %u\n", (unsigned long long)arrived, refused);
                return 0;
            }
            while ((now = now_ns()) < next) {
                struct timespec nap = {0, (long)(next - now)};
                nanosleep(&nap, NULL);
            }
            break;
        }
    }
    fprintf(stderr, "dnsload: %s did not answer %s in time\n", name, argv[5]);
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "load")) return load(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "serve")) return serve(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "wait")) return wait_for(argc, argv);
    fprintf(stderr, "usage: dnsload load|serve|wait ... (see the top of dnsload.c)\n");
    return 2;
}
