package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// pki is a throw-away CA with a server certificate for 127.0.0.1 only and
// a client certificate, written as PEM (and the client's also as DER).
type pki struct {
	dir                                  string
	caPool                               *x509.CertPool
	serverCert                           tls.Certificate
	ca, clientCert, clientKey            string
	clientCertDER, clientKeyDER, unknown string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir}
	write := func(name string, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		var data []byte
		if typ == "" {
			data = der
		} else {
			data = pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "perfgo test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := issue(3, "client", x509.ExtKeyUsageClientAuth, nil)
	cKeyDER, err := x509.MarshalPKCS8PrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	p.clientCert = write("client.pem", "CERTIFICATE", cDER)
	p.clientKey = write("client-key.pem", "PRIVATE KEY", cKeyDER)
	p.clientCertDER = write("client.der", "", cDER)
	p.clientKeyDER = write("client-key.der", "", cKeyDER)

	// A CA the server's certificate does not chain to.
	otherKey := newKey()
	otherTmpl := *caTmpl
	otherTmpl.Subject.CommonName = "someone else"
	otherDER, err := x509.CreateCertificate(rand.Reader, &otherTmpl, &otherTmpl, &otherKey.PublicKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	p.unknown = write("other-ca.pem", "CERTIFICATE", otherDER)
	return p
}

func TestHTTPS(t *testing.T) {
	p := newPKI(t)
	var gotClientCert atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotClientCert.Store(len(r.TLS.PeerCertificates) > 0)
		w.Write([]byte(`{"name":"tls","extensions":["binary_tensor_data"]}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientCAs: p.caPool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	byIP := "https://127.0.0.1:" + port
	byName := "https://localhost:" + port // not in the certificate

	tests := []struct {
		name       string
		url        string
		tls        TLSOptions
		wantErr    bool
		clientCert bool
	}{
		{"verified", byIP, TLSOptions{HTTPSCAFile: p.ca}, false, false},
		{"mutual PEM", byIP, TLSOptions{HTTPSCAFile: p.ca, HTTPSClientCert: p.clientCert, HTTPSClientKey: p.clientKey}, false, true},
		{"mutual DER", byIP, TLSOptions{HTTPSCAFile: p.ca, HTTPSClientCert: p.clientCertDER, HTTPSClientKey: p.clientKeyDER,
			HTTPSClientCertType: "DER", HTTPSClientKeyType: "der"}, false, true},
		{"unknown CA", byIP, TLSOptions{HTTPSCAFile: p.unknown}, true, false},
		{"unknown CA, peer not verified", byIP, TLSOptions{HTTPSCAFile: p.unknown, HTTPSSkipVerifyPeer: true}, false, false},
		{"wrong host", byName, TLSOptions{HTTPSCAFile: p.ca}, true, false},
		{"wrong host, host not verified", byName, TLSOptions{HTTPSCAFile: p.ca, HTTPSSkipVerifyHost: true}, false, false},
		{"wrong host and CA, host not verified", byName, TLSOptions{HTTPSCAFile: p.unknown, HTTPSSkipVerifyHost: true}, true, false},
	}
	for _, tt := range tests {
		for _, tr := range []string{transportFast, transportNet} {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				testHTTPSCase(t, tt.url, tr, tt.tls, tt.wantErr, tt.clientCert, &gotClientCert)
			})
		}
	}
	_, err := NewHTTP(testCtx(t), Options{URL: byIP, TLS: TLSOptions{HTTPSCAFile: p.ca, HTTPSClientCert: p.clientCert, HTTPSClientKey: p.clientKey, HTTPSClientKeyType: "PKCS12"}})
	if err == nil || !strings.Contains(err.Error(), "PEM or DER") {
		t.Errorf("unknown key type: %v", err)
	}
}

func testHTTPSCase(t *testing.T, url, tr string, opts TLSOptions, wantErr, clientCert bool, gotClientCert *atomic.Bool) {
	gotClientCert.Store(false)
	c, err := NewHTTP(testCtx(t), Options{URL: url, TLS: opts, httpTransport: tr})
	if wantErr {
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("NewHTTP: %v, want ErrUnreachable (TLS handshake)", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if in, _ := c.BinaryTensors(); !in {
		t.Error("metadata over TLS was not read")
	}
	if got := gotClientCert.Load(); got != clientCert {
		t.Errorf("server saw a client certificate: %v, want %v", got, clientCert)
	}
}

func TestGRPCTLS(t *testing.T) {
	p := newPKI(t)
	f := &fakeGRPC{}
	addr := startFakeGRPC(t, f, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.serverCert}, ClientCAs: p.caPool, ClientAuth: tls.RequireAndVerifyClientCert})))
	ctx := testCtx(t)
	req := &InferRequest{Model: "m", Inputs: []Tensor{{Name: "X", Datatype: TypeInt8, Shape: []int64{1}, Data: []byte{7}}}}
	tests := []struct {
		name    string
		tls     TLSOptions
		wantErr error
	}{
		{"mutual", TLSOptions{GRPCUseSSL: true, GRPCRootCerts: p.ca, GRPCCertChain: p.clientCert, GRPCPrivateKey: p.clientKey}, nil},
		{"unknown CA", TLSOptions{GRPCUseSSL: true, GRPCRootCerts: p.unknown, GRPCCertChain: p.clientCert, GRPCPrivateKey: p.clientKey}, ErrUnreachable},
		{"plaintext to a TLS server", TLSOptions{}, ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewGRPC(ctx, Options{URL: addr, TLS: tt.tls})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			call, err := c.NewCall(req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = call.Do(ctx)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do: %v, want %v", err, tt.wantErr)
			}
		})
	}
}
