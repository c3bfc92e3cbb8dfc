import { createRequire as __ndtCreateRequire } from 'node:module'; const require = __ndtCreateRequire(import.meta.url); const __ndtRequire = require;
import{beginConnect,checkHostInputs,connectChecked,warmUpEngine}from"./chunk-BLPNZGPF.mjs";import"./chunk-C45K6LFN.mjs";import"./chunk-B5IZYSRV.mjs";export{beginConnect,checkHostInputs,connectChecked,warmUpEngine};
