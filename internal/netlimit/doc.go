// Package netlimit bounds the connections a TCP listener holds, so that
// no client can exhaust the process's file descriptors: a cap on all open
// connections, a cap per client address (IPv6 by /64), immediate refusal
// beyond either, and, under pressure, closing the connections that have
// been idle longest (HTTP keep-alives, RFC 9112 §9.3: a server may close
// an idle persistent connection at any time) so that new clients are
// served.
//
// The Listener wraps a net.Listener; its ConnState method goes into
// http.Server.ConnState, which is how it learns which connections are idle.
package netlimit
