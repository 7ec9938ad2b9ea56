// QR registration, step 1 (portal -> backchannel): remember which logged-in user asked
// for a QR code under a fresh one-time identifier, and hand the identifier back.
// Written the way the reference product's published example is: ES5, Nashorn-style.
function execute(requestPayload) {
  var userId = JSON.parse(requestPayload).userId;
  var identifier = java.util.UUID.randomUUID().toString();

  CACHE.store(identifier, userId, 100); // the QR code is valid for 100 seconds
  LOG.info("storing userId: {}", userId);

  return {
    status: 2000,
    responsePayload: identifier
  };
}
