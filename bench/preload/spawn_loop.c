/* fork + execve of a program N times, waiting for each: the launch path every guarded
 * process pays (the parent's execve hook in the child, then the new image's constructor). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    const char *prog = argc > 2 ? argv[2] : "/bin/true";
    char *child_argv[] = {(char *)prog, NULL};
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execve(prog, child_argv, environ);
            _exit(127);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "launch %d failed\n", i);
            return 1;
        }
    }
    return 0;
}
