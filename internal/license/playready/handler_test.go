package playready

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/vendortest"
)

const soapAction = `"http://schemas.microsoft.com/DRM/2007/03/protocols/AcquireLicense"`

func TestForwardsSOAP(t *testing.T) {
	d := vendortest.New(vendortest.Generic, vendortest.Options{Headers: map[string]string{"SOAPAction": soapAction}})
	defer d.Close()
	h, err := NewHandler(Config{Upstream: upstream.Config{Type: upstream.Generic, URL: d.URL()}}, Deps{Deps: license.Deps{Authorizer: vendortest.AllowAll{}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/license/playready", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/xml; charset=utf-8")
		r.Header.Set("SOAPAction", soapAction)
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	challenge := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope><soap:Body><AcquireLicense/></soap:Body></soap:Envelope>`
	if w := send(challenge); w.Code != 200 || w.Body.String() != string(vendortest.License([]byte(challenge))) {
		t.Fatalf("%d %s (double: %v)", w.Code, w.Body, d.Rejection())
	}
	if !strings.HasPrefix(d.Last().ContentType, "text/xml") {
		t.Errorf("content type %q", d.Last().ContentType)
	}
	if w := send("\x00\x01binary"); w.Code != 400 {
		t.Errorf("non-XML challenge: %d", w.Code)
	}
}
