/* N getaddrinfo calls on one name; prints nanoseconds per call. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    const char *name = argc > 2 ? argv[2] : "localhost";
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        struct addrinfo *res;
        if (getaddrinfo(name, "80", NULL, &res) != 0) {
            fprintf(stderr, "getaddrinfo(%s) failed\n", name);
            return 1;
        }
        freeaddrinfo(res);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.0f\n", ns / n);
    return 0;
}
