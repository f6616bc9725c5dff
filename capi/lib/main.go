// Command lib is built with -buildmode=c-shared into libdaas.so (make lib); the exports live in
// package capi.
package main

import _ "github.com/daas-nas/daas/capi"

func main() {}
