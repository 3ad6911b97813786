// stop.h: how bench/cpp's servers stop: on SIGINT/SIGTERM, and when stdin
// reaches EOF, so that a script that dies still takes its server with it.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

// BlockStopSignals blocks SIGINT and SIGTERM in the calling thread and in
// every thread started after it (they inherit the mask), so that no
// library's thread runs a handler, and returns a signalfd that reads them
// (-1 on failure). Call it before any thread starts.
inline int BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return signalfd(-1, &stop_signals, SFD_CLOEXEC);
}

// WaitForStop returns on a stop signal (read from sigfd) or stdin EOF.
inline void WaitForStop(int sigfd) {
  pollfd fds[2] = {{sigfd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  char buf[256];
  for (;;) {
    if (poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[0].revents) return;
    if (fds[1].revents) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) return;  // EOF or a closed/invalid stdin
    }
  }
}
