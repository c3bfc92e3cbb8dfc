import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;
import{beginConnect,checkHostInputs,connectChecked,warmUpEngine}from"./chunk-F4JT5BZ7.mjs";import"./chunk-FC3HDLKQ.mjs";import"./chunk-B5IZYSRV.mjs";export{beginConnect,checkHostInputs,connectChecked,warmUpEngine};
