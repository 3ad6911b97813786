package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/perfgo/perfgo/pkg/inferencepb"
	"github.com/perfgo/perfgo/pkg/server"
	"github.com/perfgo/perfgo/pkg/server/servertest"
)

// TestHideModelConfig: the server looks like KServe's, which has no
// model configuration endpoint: not listed, 404 without a v2 body, and
// gRPC Unimplemented; metadata and inference are unchanged.
func TestHideModelConfig(t *testing.T) {
	s := servertest.Start(t, func(o *server.Options) { o.HideModelConfig = true })
	h := newHTTPClient(t, s.HTTPAddr)
	r := h.get("/v2/models/simple/config")
	if r.status != http.StatusNotFound || strings.Contains(string(r.body), `"error"`) {
		t.Errorf("GET config = %d %s; want 404 without a v2 error body", r.status, r.body)
	}
	if r := h.get("/v2/models/simple"); r.status != http.StatusOK {
		t.Errorf("GET metadata = %d %s", r.status, r.body)
	}
	c := grpcClient(t, s.GRPCAddr)
	ctx := testCtx(t)
	_, err := c.ModelConfig(ctx, &inferencepb.ModelConfigRequest{Name: "simple"})
	wantCode(t, err, codes.Unimplemented)
	meta, err := c.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{})
	if err != nil || slices.Contains(meta.GetExtensions(), "model_configuration") {
		t.Errorf("extensions %v (%v); want no model_configuration", meta.GetExtensions(), err)
	}
}
