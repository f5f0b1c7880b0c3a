#pragma once

// Every atom and every message type of Herald, in one CAF type-ID block.
// The block does nothing until `cfg.add_message_types<caf::id_block::herald>()`
// runs: herald_actor_config (actors/config.hpp) does that for the node and
// for every test, so the wire names are the same everywhere.

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "core/messages.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(herald, caf::first_custom_type_id)

  // -- message types ----------------------------------------------------------

  CAF_ADD_TYPE_ID(herald, (herald::notification))
  CAF_ADD_TYPE_ID(herald, (herald::tenant))
  CAF_ADD_TYPE_ID(herald, (herald::tenant_put_result))
  CAF_ADD_TYPE_ID(herald, (herald::key_record))
  CAF_ADD_TYPE_ID(herald, (herald::delivery_job))
  CAF_ADD_TYPE_ID(herald, (herald::attempt_report))
  CAF_ADD_TYPE_ID(herald, (herald::delivery_decision))
  CAF_ADD_TYPE_ID(herald, (herald::attempt))
  CAF_ADD_TYPE_ID(herald, (herald::notification_query))
  CAF_ADD_TYPE_ID(herald, (herald::notification_page))
  CAF_ADD_TYPE_ID(herald, (herald::actor_info))
  CAF_ADD_TYPE_ID(herald, (herald::rate_request))
  CAF_ADD_TYPE_ID(herald, (herald::rate_decision))
  CAF_ADD_TYPE_ID(herald, (herald::idem_record))
  CAF_ADD_TYPE_ID(herald, (herald::idem_verdict))
  CAF_ADD_TYPE_ID(herald, (herald::ingest_item))
  CAF_ADD_TYPE_ID(herald, (herald::ingest_request))
  CAF_ADD_TYPE_ID(herald, (herald::item_result))
  CAF_ADD_TYPE_ID(herald, (herald::ingest_result))
  CAF_ADD_TYPE_ID(herald, (herald::status_event))
  CAF_ADD_TYPE_ID(herald, (herald::dead_letter))
  CAF_ADD_TYPE_ID(herald, (herald::dlq_query))
  CAF_ADD_TYPE_ID(herald, (herald::dlq_page))
  CAF_ADD_TYPE_ID(herald, (herald::replay_request))
  CAF_ADD_TYPE_ID(herald, (herald::replay_result))
  CAF_ADD_TYPE_ID(herald, (herald::breaker_info))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::status_event>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::dead_letter>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::breaker_info>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::notification>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::delivery_job>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::delivery_decision>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::attempt>))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::actor_info>))
  CAF_ADD_TYPE_ID(herald, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(herald, (herald::member_card))
  CAF_ADD_TYPE_ID(herald, (herald::member_status))
  CAF_ADD_TYPE_ID(herald, (herald::cluster_view))
  CAF_ADD_TYPE_ID(herald, (std::vector<herald::member_status>))

  // -- atoms (at most 10 characters) ------------------------------------------

  CAF_ADD_ATOM(herald, herald::atom, inspect, "inspect")
  CAF_ADD_ATOM(herald, herald::atom, insert, "insert")
  CAF_ADD_ATOM(herald, herald::atom, get, "get")
  CAF_ADD_ATOM(herald, herald::atom, list, "list")
  CAF_ADD_ATOM(herald, herald::atom, attempts, "attempts")
  CAF_ADD_ATOM(herald, herald::atom, claim, "claim")
  CAF_ADD_ATOM(herald, herald::atom, renew, "renew")
  CAF_ADD_ATOM(herald, herald::atom, release, "release")
  CAF_ADD_ATOM(herald, herald::atom, outcome, "outcome")
  CAF_ADD_ATOM(herald, herald::atom, put, "put")
  CAF_ADD_ATOM(herald, herald::atom, tenant, "tenant")
  CAF_ADD_ATOM(herald, herald::atom, create, "create")
  CAF_ADD_ATOM(herald, herald::atom, revoke, "revoke")
  CAF_ADD_ATOM(herald, herald::atom, lookup, "lookup")
  CAF_ADD_ATOM(herald, herald::atom, ping, "ping")
  CAF_ADD_ATOM(herald, herald::atom, auth, "auth")
  CAF_ADD_ATOM(herald, herald::atom, submit, "submit")
  CAF_ADD_ATOM(herald, herald::atom, deliver, "deliver")
  CAF_ADD_ATOM(herald, herald::atom, dispatch, "dispatch")
  CAF_ADD_ATOM(herald, herald::atom, reserve, "reserve")
  CAF_ADD_ATOM(herald, herald::atom, sweep, "sweep")
  CAF_ADD_ATOM(herald, herald::atom, flush, "flush")
  CAF_ADD_ATOM(herald, herald::atom, drain, "drain")
  CAF_ADD_ATOM(herald, herald::atom, idle, "idle")
  CAF_ADD_ATOM(herald, herald::atom, acquire, "acquire")
  CAF_ADD_ATOM(herald, herald::atom, idem, "idem")
  CAF_ADD_ATOM(herald, herald::atom, complete, "complete")
  CAF_ADD_ATOM(herald, herald::atom, abandon, "abandon")
  CAF_ADD_ATOM(herald, herald::atom, purge, "purge")
  CAF_ADD_ATOM(herald, herald::atom, dlq, "dlq")
  CAF_ADD_ATOM(herald, herald::atom, retry, "retry")
  CAF_ADD_ATOM(herald, herald::atom, discard, "discard")
  CAF_ADD_ATOM(herald, herald::atom, replay, "replay")
  CAF_ADD_ATOM(herald, herald::atom, cancel, "cancel")
  CAF_ADD_ATOM(herald, herald::atom, schedule, "schedule")
  CAF_ADD_ATOM(herald, herald::atom, due, "due")
  CAF_ADD_ATOM(herald, herald::atom, breakers, "breakers")
  CAF_ADD_ATOM(herald, herald::atom, reset, "reset")
  CAF_ADD_ATOM(herald, herald::atom, probe, "probe")
  CAF_ADD_ATOM(herald, herald::atom, resolve, "resolve")
  CAF_ADD_ATOM(herald, herald::atom, join, "join")
  CAF_ADD_ATOM(herald, herald::atom, heartbeat, "heartbeat")
  CAF_ADD_ATOM(herald, herald::atom, tick, "tick")
  CAF_ADD_ATOM(herald, herald::atom, connect, "connect")
  CAF_ADD_ATOM(herald, herald::atom, takeover, "takeover")
  CAF_ADD_ATOM(herald, herald::atom, view, "view")
  CAF_ADD_ATOM(herald, herald::atom, actors, "actors")
  CAF_ADD_ATOM(herald, herald::atom, stats, "stats")

CAF_END_TYPE_ID_BLOCK(herald)
