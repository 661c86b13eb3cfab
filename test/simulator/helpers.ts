// The simulator package's own test helpers (a real-HTTP call with the Qlik host
// in the Host header, minting a token, the bot user behind /users/me), shared
// with the broker's tests that drive the simulator directly. Test code only:
// the package does not publish it.
export * from '../../packages/qlik-cloud-simulator/test/helpers.js'
