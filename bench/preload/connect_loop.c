/* MODE real: N x connect + close to a listener on ADDR:PORT (this process accepts and closes
 * its end too, so the backlog never fills; the client resets, so no TIME_WAIT piles up).
 * MODE hook: N x connect(-1, ADDR:PORT): the shim decides the address, then the kernel fails
 * the call at once with EBADF, so the hook's own cost is not lost in the handshake's.
 * Prints nanoseconds per call. With a NAME, getaddrinfo(NAME) runs first, as a program
 * resolves before it connects (the shim records an allowed name's answers: the ledger path). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: connect_loop real|hook N ADDR PORT [NAME]\n");
        return 2;
    }
    argv++;
    int hook = strcmp(argv[0], "hook") == 0;
    int n = atoi(argv[1]);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
        return 2;
    if (argc > 5) {
        struct addrinfo *res;
        if (getaddrinfo(argv[4], NULL, NULL, &res) != 0) {
            fprintf(stderr, "getaddrinfo(%s) failed\n", argv[4]);
            return 1;
        }
        freeaddrinfo(res);
    }
    struct timespec a, b;
    if (hook) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < n; i++) {
            if (connect(-1, (struct sockaddr *)&sa, sizeof sa) != -1) {
                fprintf(stderr, "connect(-1) did not fail\n");
                return 1;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
        return 0;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 128)) {
        perror("listen");
        return 1;
    }
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&sa, sizeof sa)) {
            perror("connect");
            return 1;
        }
        int s = accept(l, NULL, NULL);
        setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(c);
        close(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.0f\n", ns / n);
    return 0;
}
