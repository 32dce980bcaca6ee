/* execl, execle, execlp: the variadic members of the exec family.
 *
 * Defining C-variadic functions is not stable Rust, so these collect their arguments into an
 * argv on the stack (like glibc does) and call the Rust hooks through a table the Rust
 * constructor fills in. Before the constructor has run (a hook called from another preload's
 * constructor) they call execv/execve/execvp by name, which lands in our exported Rust hooks.
 * Everything here is hidden except the three hooks (see hooks.map). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

/* glibc's own limit for the exec*l argument count is INT_MAX; a stack argv that large would
 * overflow the stack, so refuse absurd counts with E2BIG (the kernel would anyway). */
#define MAX_ARGS 65536

typedef int (*exec_fn)(const char *, char *const *);
typedef int (*exec_env_fn)(const char *, char *const *, char *const *);

/* In .data, not .bss: next to the real-function pointers the loader writes when it relocates
 * the library, so registering these costs no page fault of its own. */
static exec_fn g_execl __attribute__((section(".data")));
static exec_env_fn g_execle __attribute__((section(".data")));
static exec_fn g_execlp __attribute__((section(".data")));

__attribute__((visibility("hidden"))) void
guard_preload_register_variadic(exec_fn execl_fn, exec_env_fn execle_fn, exec_fn execlp_fn)
{
    g_execl = execl_fn;
    g_execle = execle_fn;
    g_execlp = execlp_fn;
}

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
    if (g_execl)
        return g_execl(path, (char *const *)argv);
    return execv(path, (char *const *)argv);
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
    if (g_execle)
        return g_execle(path, (char *const *)argv, envp);
    return execve(path, (char *const *)argv, envp);
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
    if (g_execlp)
        return g_execlp(file, (char *const *)argv);
    return execvp(file, (char *const *)argv);
}
