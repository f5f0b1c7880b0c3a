#pragma once

// An httplib::Server whose handlers see request headers as sent.
//
// httplib 0.11.4 decodes header values while parsing, inside the shared
// library (http/raw_headers.hpp). The server's per-connection loop is a
// virtual member, and the request parser takes the Stream to read from and a
// hook that runs after the headers and before routing. This server runs its
// own connection loop over a Stream that keeps a copy of the bytes httplib
// reads for the request head; the hook re-parses that copy and puts the raw
// values back. Bodies are not copied.

#include <httplib.h>

namespace herald {

class raw_header_server : public httplib::Server {
private:
  bool process_and_close_socket(socket_t sock) override;

  /// Waits for the next request on a kept-alive connection: true when bytes
  /// (or the peer's close) arrived, false after the keep-alive timeout or
  /// when the server stops.
  bool await_request(socket_t sock) const;
};

} // namespace herald
