#ifndef CEOSHARE_SYSTEM_SHIM_H
#define CEOSHARE_SYSTEM_SHIM_H
/* Linux system calls and GNU library functions that Swift's Glibc module does not expose. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Reads directory entries of an open folder into `buffer` (struct linux_dirent64 records):
   the audit lists 100,000 item folders, and a DIR stream costs two more system calls each. */
static inline long eoshare_getdents64(int fd, void *buffer, unsigned long size) {
    return syscall(SYS_getdents64, fd, buffer, size);
}

/* The first occurrence of `needle` in `haystack` (glibc's memmem, which is vectorized): the
   XML reader skips bulky elements by looking for their end tag. */
static inline void *eoshare_memmem(const void *haystack, size_t length, const void *needle, size_t size) {
    return memmem(haystack, length, needle, size);
}

/* A counter file descriptor to wake a thread sleeping in poll: the fetch stage's transfer
   thread polls it beside libcurl's sockets. */
static inline int eoshare_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void eoshare_eventfd_signal(int fd) { eventfd_write(fd, 1); }
static inline void eoshare_eventfd_drain(int fd) { eventfd_t value; eventfd_read(fd, &value); }
#endif
