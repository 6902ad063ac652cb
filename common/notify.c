/*
 * notify.c - the sd_notify protocol through libsystemd (notify.h).
 *
 * libsystemd's sd_notify() already returns 0 without NOTIFY_SOCKET; the
 * check here is for the watchdog, which libsystemd would report enabled
 * from WATCHDOG_USEC alone. NOTIFY_SOCKET stays in the environment
 * (unset_environment 0) because the messages are sent more than once.
 */
#include "notify.h"

#include <stdlib.h>
#include <systemd/sd-daemon.h>

static int under_systemd(void)
{
    const char *s = getenv("NOTIFY_SOCKET");

    return s != NULL && s[0] != '\0';
}

void notify_ready(void)
{
    if (under_systemd())
        (void)sd_notify(0, "READY=1");
}

void notify_stopping(void)
{
    if (under_systemd())
        (void)sd_notify(0, "STOPPING=1");
}

void notify_watchdog(void)
{
    if (under_systemd())
        (void)sd_notify(0, "WATCHDOG=1");
}

uint64_t notify_watchdog_usec(void)
{
    uint64_t usec = 0;

    if (!under_systemd() || sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec;
}
