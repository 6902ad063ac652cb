/*
 * member.h - membership changes applied to local sockets: a member added
 * to a conversation starts receiving it on their all-conversations
 * sockets; one removed stops (a per-conversation socket is closed with
 * 4403). PostgreSQL announces each change at its commit (LISTEN on
 * GW_MEMBER_CHANNEL, see sql/002_member_notify.sql); every announcement is
 * checked against the table before it is applied, and when the listener
 * reconnects (announcements made meanwhile are lost) every local socket's
 * memberships are checked again (the member events themselves are then
 * found by the reconcile, from PostgreSQL).
 */
#ifndef GW_MEMBER_H
#define GW_MEMBER_H

/*
 * gw_hooks.member_change: one announcement "<conversation> <user> added <seq>" or
 * "... removed [<seq>]" (the seq of a removal since sql/005): the membership applied to the
 * user's local sockets, and the member_added / member_removed event (when it took a seq)
 * delivered to the conversation's local subscribers.
 */
void member_changed(const char *payload);

/* The listener is (back) up: every local socket's memberships checked again. */
void member_recheck_all(void);

/*
 * Parse an announcement: 0 with the ids (NUL-terminated, lower-case), *added and *seq
 * (-1 when none), or -1 for any other text. Pure; for the unit tests.
 */
int member_parse(const char *payload, char conv_id[37], char user_id[37], int *added,
                 long long *seq);

#endif
