/* libuv's million_async (test/benchmark-million-async.c) with two knobs, to see what the
 * rsuv row's gap is made of: the distance between two handles in memory (C's benchmark keeps
 * them in one array, 128 bytes apart; an rsuv handle's allocations put ~300 bytes between
 * them), and whether the sending thread reaches a handle through an array of pointers, as it
 * must reach an rsuv `AsyncSender` (a `Vec<AsyncSender>` is one).
 *
 *   L=$(dirname "$(cargo metadata --format-version 1 | python3 -c 'import json,sys; \
 *       print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] \
 *       if p["name"] == "libuv-sys2"))')")/libuv
 *   cc -O2 -I"$L/include" -o target/bench/million_async_layout benches/million_async_layout.c \
 *      target/libuv-bench/libuv.a -lpthread           # after `make bench` built libuv
 *   taskset -c 1 target/bench/million_async_layout STRIDE [indirect]
 *
 * Prints callbacks per second over 5 s, as the original does. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define NUM_HANDLES (1024 * 1024)

static volatile int done;
static uv_thread_t sender;
static char* base;
static size_t stride;
static uv_async_t** pointers;
static int indirect;
static unsigned events;

static uv_async_t* handle_at(unsigned i) {
  return (uv_async_t*) (base + (size_t) i * stride);
}

static void send_cb(void* arg) {
  unsigned g = 0;
  (void) arg;
  while (!done) {
    g = g * 214013 + 2531011;
    unsigned i = g % NUM_HANDLES;
    uv_async_send(indirect ? pointers[i] : handle_at(i));
  }
}

static void async_cb(uv_async_t* handle) {
  events++;
  handle->data = handle;
}

static void timer_cb(uv_timer_t* timer) {
  done = 1;
  uv_thread_join(&sender);
  for (unsigned i = 0; i < NUM_HANDLES; i++)
    uv_close((uv_handle_t*) handle_at(i), NULL);
  uv_close((uv_handle_t*) timer, NULL);
}

int main(int argc, char** argv) {
  uv_loop_t* loop = uv_default_loop();
  uv_timer_t timer;

  if (argc < 2 || (stride = strtoul(argv[1], NULL, 10)) < sizeof(uv_async_t)) {
    fprintf(stderr, "usage: %s STRIDE [indirect]  (STRIDE >= %zu)\n", argv[0],
            sizeof(uv_async_t));
    return 2;
  }
  indirect = argc > 2;
  base = calloc(NUM_HANDLES, stride);
  pointers = malloc(NUM_HANDLES * sizeof(*pointers));
  if (base == NULL || pointers == NULL)
    return 1;
  for (unsigned i = 0; i < NUM_HANDLES; i++) {
    if (uv_async_init(loop, handle_at(i), async_cb) != 0)
      return 1;
    pointers[i] = handle_at(i);
  }
  uv_timer_init(loop, &timer);
  uv_timer_start(&timer, timer_cb, 5000, 0);
  uv_thread_create(&sender, send_cb, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  printf("stride %zu, %s: %.0f callbacks/s\n", stride,
         indirect ? "through pointers" : "direct", events / 5.0);
  free(pointers);
  free(base);
  return 0;
}
