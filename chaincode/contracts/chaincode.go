package contracts

import (
	"fmt"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-contract-api-go/v2/metadata"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Contract names: clients call "<contract>:<function>", for example "tokens:Transfer".
const (
	ContractRoles      = "roles"
	ContractPing       = "ping"
	ContractTokens     = "tokens"
	ContractAgreements = "agreements"
	ContractOracle     = "oracle"
)

// Version is reported in the chaincode metadata.
const Version = "0.1.0"

// Chaincode is the tanpo chaincode: the contractapi dispatcher behind a guard that turns a panic
// into an error response, so that no input can bring the chaincode server down.
type Chaincode struct {
	cc *contractapi.ContractChaincode
}

// New builds the tanpo chaincode with all its contracts.
func New() (*Chaincode, error) {
	info := func(title string) metadata.InfoMetadata {
		return metadata.InfoMetadata{Title: title, Version: Version}
	}
	roles := &RolesContract{}
	roles.Name, roles.Info = ContractRoles, info("tanpo role registry")
	ping := &PingContract{}
	ping.Name, ping.Info = ContractPing, info("tanpo smoke test and benchmark")
	tokens := &TokensContract{}
	tokens.Name, tokens.Info = ContractTokens, info("tanpo token ledger")
	agreements := &AgreementsContract{}
	agreements.Name, agreements.Info = ContractAgreements, info("tanpo agreements")
	oracle := &OracleContract{}
	oracle.Name, oracle.Info = ContractOracle, info("tanpo prices and FX")
	margins := &MarginContract{}
	margins.Name, margins.Info = ContractMargin, info("tanpo margin calls")
	billing := &BillingContract{}
	billing.Name, billing.Info = ContractBilling, info("tanpo fees, rebates and invoices")

	cc, err := contractapi.NewChaincode(roles, ping, tokens, agreements, oracle, margins, billing)
	if err != nil {
		return nil, fmt.Errorf("failed to build the tanpo chaincode: %w", err)
	}
	cc.Info = metadata.InfoMetadata{Title: "tanpo", Version: Version}
	return &Chaincode{cc: cc}, nil
}

// Init implements shim.Chaincode.
func (c *Chaincode) Init(stub shim.ChaincodeStubInterface) (resp *peer.Response) {
	defer guard(&resp)
	return c.cc.Init(stub)
}

// Invoke implements shim.Chaincode.
func (c *Chaincode) Invoke(stub shim.ChaincodeStubInterface) (resp *peer.Response) {
	defer guard(&resp)
	stub, err := withPrivateArgs(stub)
	if err != nil {
		return shim.Error(err.Error())
	}
	return c.cc.Invoke(stub)
}

func guard(resp **peer.Response) {
	if r := recover(); r != nil {
		*resp = shim.Error(fmt.Sprintf("internal error: %v", r))
	}
}
