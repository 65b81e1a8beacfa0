// Command tanpo-cc serves the tanpo chaincode as a service (CCaaS): the peer dials this process,
// so the peer needs no Docker and no chaincode build step.
//
// Environment:
//
//	CHAINCODE_ID              required: the package id, as "peer lifecycle chaincode calculatepackageid" prints it
//	CHAINCODE_SERVER_ADDRESS  required: host:port to listen on, for example 127.0.0.1:9999
//	CHAINCODE_TLS_DISABLED    optional, default "true"; "false" turns TLS on, and then:
//	CHAINCODE_TLS_KEY         file with the server's PEM private key
//	CHAINCODE_TLS_CERT        file with the server's PEM certificate
//	CHAINCODE_CLIENT_CA_CERT  optional file with PEM CA certificates; when set, peers must present
//	                          a client certificate signed by one of them (mutual TLS)
//
// Without TLS the server refuses to listen on anything but a loopback address: plaintext gRPC is
// only acceptable when the peer runs on the same machine.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"tanpo/chaincode/contracts"
)

// config is the effective configuration, read once from the environment.
type config struct {
	ccid       string
	address    string
	tlsEnabled bool
	keyFile    string
	certFile   string
	clientCA   string
}

func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{ccid: getenv("CHAINCODE_ID"), address: getenv("CHAINCODE_SERVER_ADDRESS")}
	var missing []string
	if c.ccid == "" {
		missing = append(missing, "CHAINCODE_ID (the chaincode package id)")
	}
	if c.address == "" {
		missing = append(missing, "CHAINCODE_SERVER_ADDRESS (host:port to listen on, e.g. 127.0.0.1:9999)")
	}
	if len(missing) > 0 {
		msg := "missing environment variable"
		if len(missing) > 1 {
			msg += "s"
		}
		for i, m := range missing {
			if i > 0 {
				msg += " and"
			}
			msg += " " + m
		}
		return nil, errors.New(msg)
	}
	host, port, err := net.SplitHostPort(c.address)
	if err != nil || port == "" {
		return nil, fmt.Errorf("invalid CHAINCODE_SERVER_ADDRESS %q: expected host:port such as 127.0.0.1:9999", c.address)
	}
	disabled := getenv("CHAINCODE_TLS_DISABLED")
	if disabled == "" {
		disabled = "true"
	}
	off, err := strconv.ParseBool(disabled)
	if err != nil {
		return nil, fmt.Errorf("invalid CHAINCODE_TLS_DISABLED %q: expected true or false", disabled)
	}
	c.tlsEnabled = !off
	if !c.tlsEnabled {
		if !isLoopback(host) {
			return nil, fmt.Errorf("refusing to serve without TLS on %s: use a loopback address (127.0.0.1, ::1, localhost) or set CHAINCODE_TLS_DISABLED=false with CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT", c.address)
		}
		return c, nil
	}
	c.keyFile, c.certFile, c.clientCA = getenv("CHAINCODE_TLS_KEY"), getenv("CHAINCODE_TLS_CERT"), getenv("CHAINCODE_CLIENT_CA_CERT")
	if c.keyFile == "" || c.certFile == "" {
		return nil, errors.New("CHAINCODE_TLS_DISABLED=false needs CHAINCODE_TLS_KEY and CHAINCODE_TLS_CERT (PEM files)")
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// server builds the chaincode server for a configuration.
func server(c *config) (*shim.ChaincodeServer, error) {
	cc, err := contracts.New()
	if err != nil {
		return nil, err
	}
	s := &shim.ChaincodeServer{CCID: c.ccid, Address: c.address, CC: cc, TLSProps: shim.TLSProperties{Disabled: !c.tlsEnabled}}
	if c.tlsEnabled {
		if s.TLSProps.Key, err = os.ReadFile(c.keyFile); err != nil {
			return nil, fmt.Errorf("reading CHAINCODE_TLS_KEY: %w", err)
		}
		if s.TLSProps.Cert, err = os.ReadFile(c.certFile); err != nil {
			return nil, fmt.Errorf("reading CHAINCODE_TLS_CERT: %w", err)
		}
		if c.clientCA != "" {
			if s.TLSProps.ClientCACerts, err = os.ReadFile(c.clientCA); err != nil {
				return nil, fmt.Errorf("reading CHAINCODE_CLIENT_CA_CERT: %w", err)
			}
		}
	}
	return s, nil
}

func run(getenv func(string) string, logw io.Writer) int {
	logger := log.New(logw, "tanpo-cc: ", log.LstdFlags)
	c, err := loadConfig(getenv)
	if err != nil {
		logger.Printf("configuration error: %v", err)
		return 2
	}
	s, err := server(c)
	if err != nil {
		logger.Printf("startup error: %v", err)
		return 1
	}
	tls := "off (loopback only)"
	if c.tlsEnabled {
		tls = "on"
		if c.clientCA != "" {
			tls = "on, client certificates required"
		}
	}
	logger.Printf("serving chaincode %s version %s on %s, TLS %s", c.ccid, contracts.Version, c.address, tls)
	if err := s.Start(); err != nil {
		logger.Printf("server stopped: %v", err)
		return 1
	}
	return 0
}

func main() {
	os.Exit(run(os.Getenv, os.Stderr))
}
