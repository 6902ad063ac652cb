/*
 * notify.h - telling systemd how the process is doing (sd_notify).
 *
 * Both binaries run as Type=notify units (conf/chat-*.service): READY=1 once
 * they answer, STOPPING=1 when a stop begins, WATCHDOG=1 every half
 * watchdog interval while they are healthy. Outside systemd (NOTIFY_SOCKET
 * unset: a shell, the test stack) every call is a no-op, so callers never
 * test for it. The calls are thread-safe (each sends one datagram) and never
 * block. Errors are not reported: systemd reacting to a missing message
 * (start timeout, watchdog) is the handling.
 */
#ifndef CHAT_NOTIFY_H
#define CHAT_NOTIFY_H

#include <stdint.h>

/* The service answers requests: systemd finishes the start job. */
void notify_ready(void);

/* A stop has begun (on SIGTERM); systemd waits for the exit. */
void notify_stopping(void);

/* One keep-alive ping: call only while the process is fit to serve. */
void notify_watchdog(void);

/*
 * The watchdog interval systemd expects pings within (WATCHDOG_USEC, for
 * this process when WATCHDOG_PID is set), in microseconds; 0 when there is
 * no watchdog or no NOTIFY_SOCKET. Ping at half of it.
 */
uint64_t notify_watchdog_usec(void);

#endif
