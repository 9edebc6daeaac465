package authz

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
)

// MediaType is the content type of Docker's plugin protocol.
const MediaType = "application/vnd.docker.plugins.v1.2+json"

// maxRequest bounds what the plugin reads of one call: the daemon forwards
// bodies up to 1 MiB, base64-encoded inside the JSON request.
const maxRequest = 4 << 20

// Handler serves Docker's authorization plugin protocol for policy p,
// logging every refusal (with what was asked, never the request body) to log.
func Handler(p Policy, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string][]string{"Implements": {"authz"}})
	})
	mux.HandleFunc("POST /AuthZPlugin.AuthZReq", func(w http.ResponseWriter, r *http.Request) {
		var req Request
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
		var d Decision
		switch {
		case err != nil:
			d = p.unreadable("request", "reading it: "+err.Error())
		case len(body) > maxRequest:
			d = p.unreadable("request", "larger than 4 MiB")
		default:
			if err := json.Unmarshal(body, &req); err != nil {
				d = p.unreadable("request", "not an authorization request: "+err.Error())
			} else {
				d = p.Decide(req)
			}
		}
		if !d.Allow {
			log.Warn("denied", "rule", d.Rule, "asked", d.What, "endpoint", d.Endpoint,
				"method", req.RequestMethod, "uri", req.RequestURI, "user", req.User)
			reply(w, Response{Allow: false, Msg: d.Msg})
			return
		}
		reply(w, Response{Allow: true})
	})
	// Responses are not judged: everything was decided on the request.
	mux.HandleFunc("POST /AuthZPlugin.AuthZRes", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxRequest))
		reply(w, Response{Allow: true})
	})
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", MediaType)
	_ = json.NewEncoder(w).Encode(v)
}
