package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"CHAINCODE_ID": "tanpo_1.0:abc", "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999"}))
	if err != nil || c.tlsEnabled || c.ccid != "tanpo_1.0:abc" || c.address != "127.0.0.1:9999" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, addr := range []string{"localhost:9999", "[::1]:9999", "127.0.0.5:1"} {
		if _, err := loadConfig(env(map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": addr})); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	c, err = loadConfig(env(map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999",
		"CHAINCODE_TLS_DISABLED": "false", "CHAINCODE_TLS_KEY": "k.pem", "CHAINCODE_TLS_CERT": "c.pem", "CHAINCODE_CLIENT_CA_CERT": "ca.pem"}))
	if err != nil || !c.tlsEnabled || c.clientCA != "ca.pem" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestLoadConfigRefusals(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "missing environment variables CHAINCODE_ID (the chaincode package id) and CHAINCODE_SERVER_ADDRESS (host:port to listen on, e.g. 127.0.0.1:9999)"},
		{map[string]string{"CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999"}, "missing environment variable CHAINCODE_ID (the chaincode package id)"},
		{map[string]string{"CHAINCODE_ID": "x"}, "missing environment variable CHAINCODE_SERVER_ADDRESS (host:port to listen on, e.g. 127.0.0.1:9999)"},
		{map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": "9999"}, `invalid CHAINCODE_SERVER_ADDRESS "9999": expected host:port such as 127.0.0.1:9999`},
		{map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999"}, "refusing to serve without TLS on 0.0.0.0:9999: use a loopback address (127.0.0.1, ::1, localhost) or set CHAINCODE_TLS_DISABLED=false with CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT"},
		{map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": ":9999"}, "refusing to serve without TLS on :9999: use a loopback address (127.0.0.1, ::1, localhost) or set CHAINCODE_TLS_DISABLED=false with CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT"},
		{map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999", "CHAINCODE_TLS_DISABLED": "maybe"}, `invalid CHAINCODE_TLS_DISABLED "maybe": expected true or false`},
		{map[string]string{"CHAINCODE_ID": "x", "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:9999", "CHAINCODE_TLS_DISABLED": "false"}, "CHAINCODE_TLS_DISABLED=false needs CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT (PEM files)"},
	}
	for _, c := range cases {
		_, err := loadConfig(env(c.env))
		if err == nil || err.Error() != c.want {
			t.Fatalf("env %v:\n got %v\nwant %s", c.env, err, c.want)
		}
	}
}

func TestRunExitsNonZeroOnMissingEnvironment(t *testing.T) {
	var log bytes.Buffer
	if code := run(env(map[string]string{}), &log); code != 2 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(log.String(), "configuration error: missing environment variables CHAINCODE_ID") {
		t.Fatalf("log: %s", log.String())
	}
}

func TestServerReadsTLSFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"k.pem", "c.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := server(&config{ccid: "x", address: "127.0.0.1:0", tlsEnabled: true, keyFile: filepath.Join(dir, "k.pem"), certFile: filepath.Join(dir, "c.pem")})
	if err != nil || string(s.TLSProps.Key) != "k.pem" || s.TLSProps.Disabled {
		t.Fatalf("%v", err)
	}
	_, err = server(&config{ccid: "x", address: "127.0.0.1:0", tlsEnabled: true, keyFile: filepath.Join(dir, "nope"), certFile: "c"})
	if err == nil || !strings.HasPrefix(err.Error(), "reading CHAINCODE_TLS_KEY: ") {
		t.Fatalf("%v", err)
	}
	s, err = server(&config{ccid: "x", address: "127.0.0.1:0"})
	if err != nil || !s.TLSProps.Disabled || s.CC == nil {
		t.Fatalf("%v", err)
	}
}
