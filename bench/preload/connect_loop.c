/* N connect + close to a listener on ADDR:PORT (this process accepts and closes its end too,
 * so the backlog never fills); prints nanoseconds per round. With a NAME, getaddrinfo(NAME)
 * runs first, as a program resolves before it connects (the shim records an allowed name's
 * answers: the ledger path). */
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
    if (argc < 4) {
        fprintf(stderr, "usage: connect_loop N ADDR PORT [NAME]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
        return 2;
    if (argc > 4) {
        struct addrinfo *res;
        if (getaddrinfo(argv[4], NULL, NULL, &res) != 0) {
            fprintf(stderr, "getaddrinfo(%s) failed\n", argv[4]);
            return 1;
        }
        freeaddrinfo(res);
    }
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 128)) {
        perror("listen");
        return 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&sa, sizeof sa)) {
            perror("connect");
            return 1;
        }
        int s = accept(l, NULL, NULL);
        close(c);
        close(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.0f\n", ns / n);
    return 0;
}
