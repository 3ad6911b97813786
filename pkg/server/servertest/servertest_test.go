package servertest_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStart(t *testing.T) {
	tests := []struct {
		name                  string
		opts                  []func(*server.Options)
		wantHTTP, wantMetrics bool
	}{
		{"all listeners", nil, true, true},
		{"HTTP disabled", []func(*server.Options){func(o *server.Options) { o.HTTPAddr = "" }}, false, true},
		{"metrics disabled, delay changed", []func(*server.Options){
			func(o *server.Options) { o.MetricsAddr = "" },
			func(o *server.Options) { o.Delay.ServiceTime = time.Millisecond },
		}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := servertest.Start(t, tt.opts...)
			if s.GRPCAddr == "" || s.GRPCAddr != s.Server.GRPCAddr() {
				t.Errorf("GRPCAddr %q, server says %q", s.GRPCAddr, s.Server.GRPCAddr())
			}
			for _, a := range []struct {
				name, addr string
				want       bool
			}{{"HTTP", s.HTTPAddr, tt.wantHTTP}, {"metrics", s.MetricsAddr, tt.wantMetrics}, {"gRPC", s.GRPCAddr, true}} {
				if (a.addr != "") != a.want {
					t.Fatalf("%s address %q, want enabled=%v", a.name, a.addr, a.want)
				}
				if a.addr == "" {
					continue
				}
				host, port, err := net.SplitHostPort(a.addr)
				if err != nil || host != "127.0.0.1" || port == "0" {
					t.Errorf("%s address %q, want 127.0.0.1 and a real port", a.name, a.addr)
				}
			}
			if s.HTTPAddr != "" {
				resp, err := http.Get("http://" + s.HTTPAddr + "/v2/health/ready")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("ready: %d", resp.StatusCode)
				}
				http.DefaultClient.CloseIdleConnections()
			}
		})
	}
}
