// A minimal backchannel script for trying the API: answers with what it was sent and
// the value of the demo property "greeting".
function execute(requestPayload) {
  LOG.debug("echo received {} characters", requestPayload ? requestPayload.length : 0);
  return {
    status: 2000,
    responsePayload: JSON.stringify({ echo: requestPayload, greeting: PROPERTIES.get("greeting") })
  };
}
