package main

import (
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

var _ = shim.ChaincodeServer{}
var _ = contractapi.Contract{}

func main() {}
