package secrettest

import (
	"testing"

	"coopcloud.tech/abra/internal/secret"
)

func TestFakePassMeetsContract(t *testing.T) {
	PassContract(t, NewPass())
}

func TestRealPassMeetsContract(t *testing.T) {
	PassContract(t, secret.Pass{Env: PassEnv(t)})
}
