// Try: "add a farewell function and export it"
function greet(name) {
  return `Hello, ${name}!`;
}

function shout(name) {
  return greet(name).toUpperCase();
}

module.exports = { greet, shout };
