/* LD_PRELOAD shim for the echo comparison (benches/run.py, `echo` section): sets TCP_NODELAY
 * on every socket the process accepts, so that libuv's C echo server (test/echo-server.c,
 * which never calls uv_tcp_nodelay) runs with Nagle off like the rsuv and tokio servers, which
 * set it on each accepted connection. libuv accepts with accept4(2) through libc (uv__accept in
 * src/unix/core.c), so interposing accept4 is enough; accept is covered too. One setsockopt per
 * accepted connection, as in the other servers; nothing else changes.
 *
 * Built by run.py: cc -O2 -shared -fPIC -o target/bench/nodelay.so benches/nodelay.c
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int nodelay(int fd) {
  int on = 1;
  if (fd >= 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); /* EOPNOTSUPP on non-TCP: fine */
  return fd;
}

int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  return nodelay((int) syscall(SYS_accept4, fd, addr, len, flags));
}

int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  return nodelay((int) syscall(SYS_accept4, fd, addr, len, 0));
}
