/* execl, execle, execlp: the variadic members of the exec family.
 *
 * Defining C-variadic functions is not stable Rust, so these collect their arguments into an
 * argv on the stack (like glibc does) and call the Rust side directly. Everything here is
 * hidden except the three hooks (see hooks.map). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

/* glibc's own limit for the exec*l argument count is INT_MAX; a stack argv that large would
 * overflow the stack, so refuse absurd counts with E2BIG (the kernel would anyway). */
#define MAX_ARGS 65536

/* The Rust side of each hook (preload/src/exec.rs). Hidden (hooks.map makes them local), so
 * these are direct calls inside the library: they never go through the dynamic symbol table,
 * so never back into an export, ours or another preload's. They work before the constructor
 * ran, as every hook does. */
__attribute__((visibility("hidden"))) int guard_variadic_execl(const char *path, char *const *argv);
__attribute__((visibility("hidden"))) int guard_variadic_execle(const char *path, char *const *argv,
                                                                char *const *envp);
__attribute__((visibility("hidden"))) int guard_variadic_execlp(const char *file, char *const *argv);

/* Counts the arguments after `arg` up to and including the terminating NULL. */
static size_t count_args(const char *arg, va_list ap)
{
    size_t n = 1;
    if (arg == NULL)
        return 0;
    while (n < MAX_ARGS && va_arg(ap, const char *) != NULL)
        n++;
    return n;
}

#define COLLECT(arg, argv, n, ap)                                                          \
    do {                                                                                   \
        argv[0] = (arg);                                                                   \
        for (size_t i_ = 1; i_ <= (n); i_++)                                               \
            argv[i_] = (n) == 0 ? NULL : va_arg(ap, const char *);                         \
        argv[(n)] = NULL;                                                                  \
    } while (0)

__attribute__((visibility("default"))) int execl(const char *path, const char *arg, ...)
{
    va_list ap, count;
    va_start(ap, arg);
    va_copy(count, ap);
    size_t n = count_args(arg, count);
    va_end(count);
    if (n >= MAX_ARGS) {
        va_end(ap);
        errno = E2BIG;
        return -1;
    }
    const char *argv[n + 1];
    COLLECT(arg, argv, n, ap);
    va_end(ap);
    return guard_variadic_execl(path, (char *const *)argv);
}

__attribute__((visibility("default"))) int execle(const char *path, const char *arg, ...)
{
    va_list ap, count;
    va_start(ap, arg);
    va_copy(count, ap);
    size_t n = count_args(arg, count);
    va_end(count);
    if (n >= MAX_ARGS) {
        va_end(ap);
        errno = E2BIG;
        return -1;
    }
    const char *argv[n + 1];
    COLLECT(arg, argv, n, ap);
    /* COLLECT consumed the arguments and the NULL after them (unless arg itself was NULL);
     * the environment follows. */
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return guard_variadic_execle(path, (char *const *)argv, envp);
}

__attribute__((visibility("default"))) int execlp(const char *file, const char *arg, ...)
{
    va_list ap, count;
    va_start(ap, arg);
    va_copy(count, ap);
    size_t n = count_args(arg, count);
    va_end(count);
    if (n >= MAX_ARGS) {
        va_end(ap);
        errno = E2BIG;
        return -1;
    }
    const char *argv[n + 1];
    COLLECT(arg, argv, n, ap);
    va_end(ap);
    return guard_variadic_execlp(file, (char *const *)argv);
}
