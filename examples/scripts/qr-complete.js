// QR registration, step 2 (app -> complete): the app sends the scanned identifier as
// its data; the identifier is single use, so it is deleted as soon as it is read.
function execute(requestPayload, userIdentifier, registrationData, hookContextCustomParams) {
  var userId = CACHE.fetch(requestPayload);
  if (!userId) {
    LOG.warn("unknown or expired QR identifier");
    return { status: 5000 };
  }
  CACHE.delete(requestPayload);
  LOG.info("registering userId: {}", userId);
  return {
    status: 2000,
    user: { id: userId, amr: ["qr"] }
  };
}
