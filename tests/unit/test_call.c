/* test_call.c -- request ids: unique in a process, and a forked child
 * (the zygote, the workers) never repeats its parent's ids. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "call.h"
#include "check.h"

int main(void)
{
    if (sodium_init() < 0) return 1;
    char a[33], b[33];
    ch_request_id(a);
    ch_request_id(b);
    CHECK(strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32);
    CHECK(strcmp(a, b) != 0);
    CHECK(strncmp(a, b, 16) == 0); /* one process, one prefix */

    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        char c[33];
        ch_request_id(c);
        ssize_t w = write(fds[1], c, 32);
        _exit(w == 32 ? 0 : 1);
    }
    char c[33] = "";
    CHECK(read(fds[0], c, 32) == 32);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strncmp(a, c, 16) != 0); /* the child drew its own prefix */
    CHECK_DONE();
}
