package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Tensor formats of the HTTP transport.
const (
	FormatBinary = "binary"
	FormatJSON   = "json"
)

// Defaults of Options.
const (
	// DefaultControlTimeout bounds a control call: long enough for a busy
	// server to answer, short enough that a silent one is noticed.
	DefaultControlTimeout = 10 * time.Second
	// DefaultMaxResponseSize bounds memory whatever the server sends.
	DefaultMaxResponseSize = 64 << 20
)

// Options configure a Client. The zero value talks HTTP to localhost:8000.
type Options struct {
	// Protocol is HTTP or GRPC (case-insensitive); empty means HTTP.
	Protocol Protocol
	// URL is "host:port"; HTTP may carry an http:// or https:// scheme and
	// a path prefix. Empty means localhost:8000 (HTTP) or localhost:8001 (gRPC).
	URL string
	// Workers is how many Calls the caller will run at once; it sizes the
	// default pool. 0 means unknown.
	Workers int
	// Connections is the pool size: gRPC connections shared round-robin by
	// Calls, or the HTTP connections per host. 0 gives each gRPC infer
	// Call its own HTTP/2 connection (perfgo's h2 transport; grpc-go's
	// pool, one connection per 6 workers as Triton's client has, carries
	// control calls, streams, TLS and gzip) and one HTTP connection per
	// worker (no cap when Workers is also 0). A gRPC pool size given here
	// puts infer Calls on grpc-go's pool too.
	Connections int
	// Headers are sent with every request (HTTP headers, gRPC metadata).
	Headers map[string]string
	// Timeout bounds each inference request; 0 means none.
	Timeout time.Duration
	// ControlTimeout bounds each control call (health, metadata, config,
	// statistics, repository index, and NewHTTP's GET /v2) unless its
	// context ends earlier; 0 means DefaultControlTimeout.
	ControlTimeout time.Duration
	// MaxResponseSize bounds the body of every response, inference and
	// control alike; a larger one fails that request with
	// ErrResponseTooLarge. 0 means DefaultMaxResponseSize.
	MaxResponseSize int64
	// GRPCCompression is "", "none" or "gzip".
	GRPCCompression string
	TLS             TLSOptions
	// InputTensorFormat and OutputTensorFormat choose how HTTP carries
	// tensors: FormatBinary, FormatJSON, or "" for binary when the server
	// lists the binary_tensor_data extension and JSON otherwise.
	InputTensorFormat, OutputTensorFormat string

	// httpTransport picks the HTTP transport: transportFast, transportNet,
	// or "" for $PERFGO_HTTP_TRANSPORT and then the default (fasthttp).
	httpTransport string
	// grpcTransport picks what carries unary infer calls: transportGRPCGo,
	// transportH2, or "" for $PERFGO_GRPC_TRANSPORT and then the default.
	grpcTransport string
	// grpcDialer replaces the TCP dial of gRPC connections, for tests
	// that watch what the transport reads.
	grpcDialer func(ctx context.Context, addr string) (net.Conn, error)
}

// TLSOptions mirror perf_analyzer's --ssl-* flags. Files are PEM unless a
// *Type field says "DER".
type TLSOptions struct {
	// GRPCUseSSL turns TLS on for gRPC (--ssl-grpc-use-ssl).
	GRPCUseSSL bool
	// GRPCRootCerts is the PEM file of server roots; empty uses the system pool.
	GRPCRootCerts string
	// GRPCPrivateKey and GRPCCertChain authenticate the client (mutual TLS).
	GRPCPrivateKey, GRPCCertChain string

	// HTTPSSkipVerifyPeer disables certificate chain verification
	// (--ssl-https-verify-peer 0); HTTPSSkipVerifyHost disables the host
	// name check only (--ssl-https-verify-host 0).
	HTTPSSkipVerifyPeer, HTTPSSkipVerifyHost bool
	// HTTPSCAFile is the CA bundle; empty uses the system pool.
	HTTPSCAFile string
	// HTTPSClientCert and HTTPSClientKey authenticate the client.
	HTTPSClientCert, HTTPSClientKey string
	// HTTPSClientCertType and HTTPSClientKeyType are "PEM" (default) or "DER".
	HTTPSClientCertType, HTTPSClientKeyType string
}

// New connects a Client for opts.Protocol.
func New(ctx context.Context, opts Options) (Client, error) {
	switch Protocol(strings.ToLower(string(opts.Protocol))) {
	case HTTP, "":
		return NewHTTP(ctx, opts)
	case GRPC:
		return NewGRPC(ctx, opts)
	}
	return nil, fmt.Errorf("protocol %q: use http or grpc", opts.Protocol)
}

func checkCommon(opts *Options) error {
	if opts.Connections < 0 || opts.Workers < 0 {
		return fmt.Errorf("connections %d, workers %d: must not be negative", opts.Connections, opts.Workers)
	}
	if opts.Timeout < 0 || opts.ControlTimeout < 0 {
		return fmt.Errorf("timeout %v, control timeout %v: must not be negative", opts.Timeout, opts.ControlTimeout)
	}
	if opts.MaxResponseSize < 0 {
		return fmt.Errorf("maximum response size %d: must not be negative", opts.MaxResponseSize)
	}
	if opts.ControlTimeout == 0 {
		opts.ControlTimeout = DefaultControlTimeout
	}
	if opts.MaxResponseSize == 0 {
		opts.MaxResponseSize = DefaultMaxResponseSize
	}
	for k := range opts.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fmt.Errorf("header name %q: must be a non-empty token without spaces or colons", k)
		}
	}
	return nil
}

func loadCertPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil // system roots
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read root certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("root certificates %s: no PEM certificate found", file)
	}
	return pool, nil
}

// loadKeyPair loads a client certificate and key, PEM or DER.
func loadKeyPair(certFile, keyFile, certType, keyType string) ([]tls.Certificate, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("client certificate and private key must be given together")
	}
	certPEM, err := readAsPEM(certFile, certType, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	keyPEM, err := readAsPEM(keyFile, keyType, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return []tls.Certificate{pair}, nil
}

// readAsPEM reads a PEM file, or wraps a DER file in PEM so that one
// parser handles both.
func readAsPEM(file, typ, block string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", strings.ToLower(block), err)
	}
	switch strings.ToUpper(typ) {
	case "", "PEM":
		return b, nil
	case "DER":
		if block == "PRIVATE KEY" {
			if _, err := x509.ParsePKCS8PrivateKey(b); err != nil {
				switch {
				case isPKCS1(b):
					block = "RSA PRIVATE KEY"
				case isEC(b):
					block = "EC PRIVATE KEY"
				}
			}
		}
		return pem.EncodeToMemory(&pem.Block{Type: block, Bytes: b}), nil
	}
	return nil, fmt.Errorf("file type %q for %s: use PEM or DER", typ, file)
}

func isPKCS1(b []byte) bool { _, err := x509.ParsePKCS1PrivateKey(b); return err == nil }
func isEC(b []byte) bool    { _, err := x509.ParseECPrivateKey(b); return err == nil }

// grpcTLSConfig builds the gRPC TLS configuration, nil when TLS is off.
func grpcTLSConfig(o TLSOptions, serverName string) (*tls.Config, error) {
	if !o.GRPCUseSSL {
		if o.GRPCRootCerts != "" || o.GRPCPrivateKey != "" || o.GRPCCertChain != "" {
			return nil, errors.New("gRPC TLS files given without TLS: set GRPCUseSSL (--ssl-grpc-use-ssl)")
		}
		return nil, nil
	}
	roots, err := loadCertPool(o.GRPCRootCerts)
	if err != nil {
		return nil, err
	}
	certs, err := loadKeyPair(o.GRPCCertChain, o.GRPCPrivateKey, "", "")
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: roots, Certificates: certs, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

// httpsTLSConfig builds the HTTPS TLS configuration.
func httpsTLSConfig(o TLSOptions, serverName string) (*tls.Config, error) {
	roots, err := loadCertPool(o.HTTPSCAFile)
	if err != nil {
		return nil, err
	}
	certs, err := loadKeyPair(o.HTTPSClientCert, o.HTTPSClientKey, o.HTTPSClientCertType, o.HTTPSClientKeyType)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: roots, Certificates: certs, ServerName: serverName, MinVersion: tls.VersionTLS12}
	switch {
	case o.HTTPSSkipVerifyPeer:
		cfg.InsecureSkipVerify = true
	case o.HTTPSSkipVerifyHost:
		// Verify the chain but not the name: Go has no switch for that, so
		// skip the built-in check and redo it without DNSName.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}
