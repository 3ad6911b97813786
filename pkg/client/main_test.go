package client

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/perfgo/perfgo/pkg/server/servertest"
)

func TestMain(m *testing.M) {
	servertest.ServeIfChild()
	goleak.VerifyTestMain(m)
}
