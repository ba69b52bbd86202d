/*
 * notify.h - the systemd notification protocol (sd_notify(3)), spoken
 * directly: one datagram per message to the AF_UNIX socket named by
 * $NOTIFY_SOCKET ("@name" for the abstract namespace). Without the
 * variable (not started by systemd with Type=notify) it does nothing.
 */
#ifndef STARTTLSD_NOTIFY_H
#define STARTTLSD_NOTIFY_H

/* Read $NOTIFY_SOCKET and open the socket (once, in the master). */
void notify_init(void);

/* Send one message, e.g. "READY=1\nSTATUS=serving". Returns 0, or -1 (not sent). */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The monotonic clock in microseconds, as MONOTONIC_USEC= wants it. */
unsigned long long notify_monotonic_usec(void);

/* Close the socket (the serving processes do not speak to systemd). */
void notify_close(void);

#endif
