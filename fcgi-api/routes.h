/*
 * routes.h - every endpoint handler, grouped by the file that holds it.
 * Handlers answer exactly once through http_reply()/http_error().
 */
#ifndef CHAT_ROUTES_H
#define CHAT_ROUTES_H

#include "http.h"

/* routes_health.c */
void route_health(struct http_req *req);
void route_healthz(struct http_req *req);
void route_readyz(struct http_req *req);
void route_metrics(struct http_req *req);

/* routes_docs.c */
void route_openapi(struct http_req *req);
void route_asyncapi(struct http_req *req);
void route_docs(struct http_req *req);
void route_docs_asset(struct http_req *req);

/* routes_auth.c */
void route_register(struct http_req *req);
void route_login(struct http_req *req);
void route_refresh(struct http_req *req);
void route_logout(struct http_req *req);

/* routes_users.c */
void route_me_get(struct http_req *req);
void route_me_put(struct http_req *req);
void route_me_delete(struct http_req *req);
void route_user_get(struct http_req *req);

/* routes_conversations.c */
void route_conv_list(struct http_req *req);
void route_conv_online(struct http_req *req);
void route_conv_direct(struct http_req *req);
void route_conv_group(struct http_req *req);
void route_conv_get(struct http_req *req);
void route_conv_members(struct http_req *req);
void route_conv_read(struct http_req *req);
void route_typing_set(struct http_req *req);
void route_typing_get(struct http_req *req);

/* routes_changes.c */
void route_msg_edit(struct http_req *req);
void route_msg_delete(struct http_req *req);
void route_reaction_add(struct http_req *req);
void route_reaction_remove(struct http_req *req);
void route_conv_events(struct http_req *req);

/* routes_messages.c */
void route_msg_list(struct http_req *req);
void route_msg_send(struct http_req *req);
void route_msg_read(struct http_req *req);
void route_msg_receipts(struct http_req *req);

/* routes_rooms.c */
void route_room_create(struct http_req *req);
void route_room_list(struct http_req *req);
void route_room_get(struct http_req *req);
void route_room_members(struct http_req *req);
void route_room_update(struct http_req *req);
void route_room_member_add(struct http_req *req);
void route_room_member_remove(struct http_req *req);
void route_room_messages(struct http_req *req);
void route_room_send(struct http_req *req);

#endif
