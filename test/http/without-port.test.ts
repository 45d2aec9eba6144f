import { withoutPort } from '../../src/http/client-address.js';

describe('withoutPort', () => {
  it.each([
    ['203.0.113.5:51234', '203.0.113.5'],
    ['203.0.113.5:0', '203.0.113.5'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[::ffff:203.0.113.5]:80', '::ffff:203.0.113.5'],
    ['2001:db8::1:51234', '2001:db8::1'],
  ])('takes the port off %s', (address, expected) => {
    expect(withoutPort(address)).toBe(expected);
  });

  it.each(['203.0.113.5', '2001:db8::1', '2001:db8::1:80', '::1', '::ffff:203.0.113.5', 'fe80::1%eth0', ''])('leaves the address %p as it is', (address) => {
    expect(withoutPort(address)).toBe(address);
  });

  it.each(['unknown', '_hidden', 'example.com:80', '203.0.113.5:123456', '[not-an-ip]:80', '203.0.113.5:80:80', '2001:db8::1:80x'])(
    'keeps %p, which is no address with a port, as it came',
    (address) => {
      expect(withoutPort(address)).toBe(address);
    },
  );
});
