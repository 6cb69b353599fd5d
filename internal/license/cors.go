package license

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CORSConfig configures cross-origin access to the license endpoints (the
// Fetch standard's CORS protocol). Same-origin requests (Safari FairPlay
// pages served by the same host) need none of it and always work.
type CORSConfig struct {
	// AllowedOrigins are exact origins ("https://player.example"); "*"
	// allows any origin and is refused together with AllowCredentials.
	AllowedOrigins []string `yaml:"allowedOrigins" json:"allowedOrigins"`
	// AllowCredentials lets pages send cookies (Access-Control-Allow-Credentials).
	AllowCredentials bool `yaml:"allowCredentials" json:"allowCredentials"`
	// AllowHeaders are added to the default request headers.
	AllowHeaders []string `yaml:"allowHeaders" json:"allowHeaders"`
	// ExposeHeaders are added to the default exposed response headers.
	ExposeHeaders []string `yaml:"exposeHeaders" json:"exposeHeaders"`
	// MaxAge is how long browsers may cache a preflight; 0 = 10 minutes.
	MaxAge time.Duration `yaml:"maxAge" json:"maxAge"`
}

// DefaultAllowHeaders are the request headers players and vendor
// integrations send to license servers (Axinom X-AxDRM-Message, castlabs
// DRMtoday dt-custom-data and x-dt-auth-token, BuyDRM KeyOS customdata,
// PlayReady SOAPAction, DASH-IF's Authorization bearer token).
var DefaultAllowHeaders = []string{"Authorization", "Content-Type", "SOAPAction", "X-AxDRM-Message",
	"dt-custom-data", "x-dt-custom-data", "x-dt-auth-token", "customdata", "X-Request-Id", "traceparent", "tracestate"}

// DefaultExposeHeaders are the response headers scripts may read.
var DefaultExposeHeaders = []string{"Retry-After", "X-Request-Id", "Content-Type", "Content-Length"}

// Validate refuses "*" with credentials.
func (c CORSConfig) Validate() error {
	for _, o := range c.AllowedOrigins {
		if o == "*" && c.AllowCredentials {
			return fmt.Errorf("%w: CORS origin \"*\" cannot be combined with allowCredentials", ErrConfig)
		}
		if o != "*" && (!strings.Contains(o, "://") || strings.HasSuffix(o, "/")) {
			return fmt.Errorf("%w: CORS origin %q must be scheme://host[:port]", ErrConfig, o)
		}
	}
	return nil
}

// CORS returns middleware applying cfg; tokenHeader (the configured token
// header, may be "") is added to the allowed request headers.
func CORS(cfg CORSConfig, tokenHeader string) (func(http.Handler) http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	anyOrigin := false
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			anyOrigin = true
		}
		allowed[strings.ToLower(o)] = true
	}
	hdrs := append(append([]string{}, DefaultAllowHeaders...), cfg.AllowHeaders...)
	if tokenHeader != "" {
		hdrs = append(hdrs, tokenHeader)
	}
	allowHeaders := strings.Join(hdrs, ", ")
	expose := strings.Join(append(append([]string{}, DefaultExposeHeaders...), cfg.ExposeHeaders...), ", ")
	maxAge := cfg.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Minute
	}
	maxAgeS := strconv.Itoa(int(maxAge.Seconds()))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			h := w.Header()
			h.Add("Vary", "Origin")
			ok := origin != "" && (anyOrigin || allowed[strings.ToLower(origin)])
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				if ok {
					// Always the echoed origin, never "*": the answer is
					// correct with and without credentials.
					h.Set("Access-Control-Allow-Origin", origin)
					if cfg.AllowCredentials {
						h.Set("Access-Control-Allow-Credentials", "true")
					}
					h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
					h.Set("Access-Control-Allow-Headers", allowHeaders)
					h.Set("Access-Control-Max-Age", maxAgeS)
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
				if cfg.AllowCredentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
				h.Set("Access-Control-Expose-Headers", expose)
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
